/**
 * `npm run bench:import`: a CSV import of customers (API.md "Imports") as merchants run it: the
 * upload through the API, the `import` job in the worker (both in this process, on a fresh migrated
 * database and the machine's Redis), progress polled through `GET /v1/imports/:id` every second.
 * Prints the progress as it goes, then rows/s and the import's end state.
 * Environment: BENCH_ROWS (default 100,000), BENCH_KEEP=1 keeps the database.
 */
import { randomBytes } from 'node:crypto'
import pino from 'pino'
import Redis from 'ioredis'
import { appDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { buildApp } from '../core/http/app'
import { startWorker } from '../core/jobs/worker'

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000)
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TOKEN = 'bench-platform-admin-token-0123456789'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

async function main(): Promise<void> {
  const name = `recv_bench_imp_${randomBytes(4).toString('hex')}`
  const url = dbUrl(name)
  console.log(`database ${name}: migrating`)
  await migrate(url, 'recv_app')
  const config = loadConfig({ DATABASE_URL: url, PLATFORM_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', QUEUE_PREFIX: `{bench_imp_${randomBytes(3).toString('hex')}}` }, {})
  const db = createDb(appDatabaseUrl(config), { poolMax: 8, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  const worker = await startWorker({ config, db, log: pino({ level: 'silent' }), options: { sweeps: false, schedules: false } })
  try {
    const t = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${TOKEN}` }, payload: { name: 'Bench', base_currency: 'usd' } })
    if (t.statusCode !== 201) throw new Error(t.body)
    const key = JSON.parse(t.body).api_key as string
    const lines = ['name,email,phone,external_id,credit_limit,payment_terms_days']
    for (let i = 1; i <= ROWS; i++) lines.push(`Customer ${i},c${i}@example.com,+1555${String(i).padStart(7, '0')},EXT-${i},${(i % 50) * 1000},30`)
    const csv = Buffer.from(lines.join('\n') + '\n')
    const boundary = `----bench${randomBytes(6).toString('hex')}`
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="type"\r\n\r\ncustomers\r\n--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="customers.csv"\r\ncontent-type: text/csv\r\n\r\n`),
      csv,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ])
    console.log(`uploading ${ROWS} customers (${(csv.length / 1048576).toFixed(1)} MiB)`)
    const started = process.hrtime.bigint()
    const up = await app.inject({ method: 'POST', url: '/v1/imports', payload, headers: { authorization: `Bearer ${key}`, 'content-type': `multipart/form-data; boundary=${boundary}` } })
    if (up.statusCode !== 202) throw new Error(up.body)
    const id = JSON.parse(up.body).id as string
    let last: any
    for (;;) {
      await sleep(1000)
      last = JSON.parse((await app.inject({ method: 'GET', url: `/v1/imports/${id}`, headers: { authorization: `Bearer ${key}` } })).body)
      const s = Number(process.hrtime.bigint() - started) / 1e9
      console.log(`${s.toFixed(1).padStart(6)} s  ${last.status.padEnd(10)} ${String(last.rows_done).padStart(7)} / ${last.rows_total ?? '?'}  (${Math.round(last.progress * 100)} %)`)
      if (last.status === 'completed' || last.status === 'failed') break
    }
    const secs = Number(process.hrtime.bigint() - started) / 1e9
    console.log(`import ${last.status}: ${last.rows_done} rows, ${last.rows_failed} refused, in ${secs.toFixed(1)} s = ${Math.round(last.rows_done / secs)} rows/s (target: 100,000 customers in 60 s)`)
  } finally {
    await worker.close()
    await app.close()
    await db.destroy()
    redis.disconnect()
    if (process.env.BENCH_KEEP !== '1') {
      const admin = createDb(ADMIN_URL, { poolMax: 1 })
      await admin.raw(`drop database if exists "${name}" with (force)`)
      await admin.destroy()
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

/**
 * `npm run bench:notifications`: the two document/notification targets of ARCHITECTURE §12.
 *
 * 1. A 1,000-line statement PDF (DejaVu + Noto CJK embedded, header and page N of M on every
 *    page): rendered in process, a warm-up then BENCH_PDF_RUNS runs; reports the median.
 * 2. 1,000 notifications to a local SMTP server (smtp-server, a real protocol peer): a fresh
 *    migrated database, one tenant, BENCH_NOTIFICATIONS customers with an e-mail, an email-smtp
 *    channel, the real worker in this process; times from the first POST /v1/notifications until
 *    every notification is recorded `sent` (the last message received is reported too), and checks
 *    each was sent exactly once (one message and one attempt per notification).
 * Environment: BENCH_NOTIFICATIONS (default 1000), BENCH_PDF_LINES (1000), BENCH_PDF_RUNS (5),
 * BENCH_ONLY=pdf|smtp, BENCH_ADMIN_URL, BENCH_KEEP=1 keeps the database.
 */
import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import pg from 'pg'
import pino from 'pino'
import Redis from 'ioredis'
import { SMTPServer } from 'smtp-server'
import { appDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { buildApp } from '../core/http/app'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker } from '../core/jobs/worker'
import { statementPdf } from '../core/reports/statement'
import { syntheticStatement } from './bench-notifications-data'

const N = Number(process.env.BENCH_NOTIFICATIONS ?? 1000)
const PDF_LINES = Number(process.env.BENCH_PDF_LINES ?? 1000)
const PDF_RUNS = Number(process.env.BENCH_PDF_RUNS ?? 5)
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TOKEN = 'bench-platform-admin-token-0123456789'

const ms = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e6

async function benchPdf(): Promise<number> {
  const doc = syntheticStatement(PDF_LINES)
  await statementPdf(doc) // warm-up: fonts read once per process
  const times: number[] = []
  let size = 0
  for (let i = 0; i < PDF_RUNS; i++) {
    const t0 = process.hrtime.bigint()
    size = (await statementPdf(doc)).length
    times.push(ms(t0))
  }
  times.sort((a, b) => a - b)
  const median = times[Math.floor(times.length / 2)]
  console.log(`statement PDF, ${PDF_LINES} lines, ${Math.round(size / 1024)} KiB: runs ${times.map((t) => t.toFixed(0)).join(', ')} ms, median ${median.toFixed(0)} ms`)
  return median
}

async function benchSmtp(): Promise<number> {
  const name = `recv_bench_ntf_${randomBytes(4).toString('hex')}`
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  const url = u.toString()
  console.log(`database ${name}: migrating`)
  await migrate(url, 'recv_app')
  const config = loadConfig(
    { DATABASE_URL: url, PLATFORM_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', QUEUE_PREFIX: `{bench_${randomBytes(3).toString('hex')}}`, WEBHOOK_ALLOW_PRIVATE_TARGETS: true, RATE_LIMIT_MAX: 1_000_000 },
    {},
  )
  const db = createDb(appDatabaseUrl(config), { poolMax: 20, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  let received = 0
  let lastAt = 0n
  const smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      stream.on('data', () => undefined)
      stream.on('end', () => {
        received++
        lastAt = process.hrtime.bigint()
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => smtp.listen(0, '127.0.0.1', resolve))
  const port = (smtp.server.address() as AddressInfo).port
  const worker = await startWorker({ config, db, registry: workerRegistry(config), log: pino({ level: 'silent' }), options: { schedules: false, sweeps: false } })
  try {
    const call = async (method: 'GET' | 'POST', path: string, key: string, payload?: unknown) => {
      const res = await app.inject({ method, url: path, headers: { authorization: `Bearer ${key}` }, payload: payload as object })
      if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body}`)
      return JSON.parse(res.body)
    }
    const tenant = await call('POST', '/v1/tenants', TOKEN, { name: 'Bench', base_currency: 'usd' })
    const key = tenant.api_key as string
    await call('POST', '/v1/notification-channels', key, { name: 'Mail', plugin: 'email-smtp', config: { host: '127.0.0.1', port, from: 'Bench <bench@shop.example>' } })
    const customers: string[] = []
    for (let i = 0; i < N; i += 50) {
      const batch = await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => call('POST', '/v1/customers', key, { name: `Customer ${i + j}`, email: `c${i + j}@example.com` })))
      customers.push(...batch.map((c) => c.id as string))
    }
    console.log(`${N} customers; sending ${N} notifications`)
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < N; i += 50) {
      await Promise.all(customers.slice(i, i + 50).map((c) => call('POST', '/v1/notifications', key, { customer: c, template: 'payment_reminder' })))
    }
    const queuedMs = ms(t0)
    const deadline = Date.now() + 120_000
    while (received < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    const receivedMs = Number(lastAt - t0) / 1e6
    // Done when every notification is recorded `sent` (the send is claimed before the SMTP call and
    // recorded after it), not only when the last message arrived.
    const admin = new pg.Client({ connectionString: url })
    await admin.connect()
    const statuses = async () => (await admin.query(`select status, count(*)::int as n from notifications group by status order by status`)).rows as { status: string; n: number }[]
    let rows = await statuses()
    while (!(rows.length === 1 && rows[0].status === 'sent') && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
      rows = await statuses()
    }
    const totalMs = ms(t0)
    const attempts = (await admin.query(`select count(*)::int as n from notification_attempts`)).rows[0].n
    await admin.end()
    console.log(`queued in ${queuedMs.toFixed(0)} ms; ${received} messages received in ${receivedMs.toFixed(0)} ms; all recorded sent in ${totalMs.toFixed(0)} ms; statuses ${JSON.stringify(rows)}; ${attempts} attempts`)
    if (received !== N) throw new Error(`expected ${N} messages, got ${received}`)
    if (rows.length !== 1 || rows[0].status !== 'sent' || rows[0].n !== N) throw new Error(`expected ${N} notifications sent, got ${JSON.stringify(rows)}`)
    if (attempts !== N) throw new Error(`expected one attempt per notification, got ${attempts}`)
    return totalMs
  } finally {
    await worker.close()
    await app.close()
    await redis.quit()
    await db.destroy()
    await new Promise<void>((resolve) => smtp.close(() => resolve()))
    if (!process.env.BENCH_KEEP) {
      const c = new pg.Client({ connectionString: ADMIN_URL })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    }
  }
}

async function main(): Promise<void> {
  const only = process.env.BENCH_ONLY // pdf | smtp
  const pdfMs = only === 'smtp' ? null : await benchPdf()
  const smtpMs = only === 'pdf' ? null : await benchSmtp()
  if (pdfMs !== null) console.log(`\nRESULT statement PDF of ${PDF_LINES} lines: ${pdfMs.toFixed(0)} ms (target ≤ 300 ms)`)
  if (smtpMs !== null) console.log(`RESULT ${N} notifications to a local SMTP server: ${(smtpMs / 1000).toFixed(2)} s (target ≤ 10 s)`)
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

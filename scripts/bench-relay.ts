/**
 * `npm run bench:relay`: outbox relay + dispatch throughput, and webhook delivery to a local
 * receiver, in events/s.
 *
 * 1. migrates a fresh database, provisions BENCH_TENANTS tenants through the API (in-process) and,
 *    unless BENCH_WEBHOOKS=0, one webhook endpoint per tenant on a local HTTP receiver;
 * 2. commits BENCH_EVENTS events spread over the tenants (the backlog), then starts a worker
 *    in-process (default relay settings) and times until every event is dispatched (all consumers
 *    ran) and, with webhooks, until the receiver got every delivery;
 * 3. prints events/s and checks each event was consumed exactly once.
 * Environment: BENCH_EVENTS (default 20,000), BENCH_TENANTS (4), BENCH_WEBHOOKS (1).
 */
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Redis from 'ioredis'
import pg from 'pg'
import pino from 'pino'
import { appDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { withTenant } from '../core/kernel/db/tenant'
import { buildApp } from '../core/http/app'
import { newId } from '../core/kernel/ids'
import { startWorker } from '../core/jobs/worker'

const EVENTS = Number(process.env.BENCH_EVENTS ?? 20_000)
const TENANTS = Number(process.env.BENCH_TENANTS ?? 4)
const WEBHOOKS = process.env.BENCH_WEBHOOKS !== '0'
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TOKEN = 'bench-platform-admin-token-0123456789'

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function main(): Promise<void> {
  const name = `recv_bench_relay_${randomBytes(4).toString('hex')}`
  const url = dbUrl(name)
  console.log(`database ${name}: migrating`)
  await migrate(url, 'recv_app')
  const config = loadConfig(
    { DATABASE_URL: url, PLATFORM_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', QUEUE_PREFIX: `{bench_${randomBytes(3).toString('hex')}}`, WEBHOOK_ALLOW_PRIVATE_TARGETS: true, DB_POOL_MAX: 40 },
    {},
  )
  const db = createDb(appDatabaseUrl(config), { poolMax: config.DB_POOL_MAX, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()

  let received = 0
  const receiver = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      received++
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r))
  const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  let worker: Awaited<ReturnType<typeof startWorker>> | null = null

  try {
    const tenants: string[] = []
    for (let i = 0; i < TENANTS; i++) {
      const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${TOKEN}` }, payload: { name: `Bench ${i}`, base_currency: 'usd' } })
      if (res.statusCode !== 201) throw new Error(res.body)
      const key = res.json().api_key as string
      if (WEBHOOKS) {
        const hook = await app.inject({ method: 'POST', url: '/v1/webhook-endpoints', headers: { authorization: `Bearer ${key}` }, payload: { url: receiverUrl, events: ['*'] } })
        if (hook.statusCode !== 201) throw new Error(`webhook endpoint: ${hook.statusCode} ${hook.body}`)
      }
    }
    for (const r of (await admin.query(`select tenant_id from tenant_directory order by tenant_id`)).rows) tenants.push(r.tenant_id)
    const baseline = Number((await admin.query(`select count(*) from events`)).rows[0].count)

    for (const [i, tenantId] of tenants.entries()) {
      const n = Math.floor(EVENTS / TENANTS) + (i < EVENTS % TENANTS ? 1 : 0)
      await withTenant(db, tenantId, (trx) =>
        trx.batchInsert(
          'events',
          Array.from({ length: n }, (_, j) => ({ tenant_id: tenantId, id: newId('evt'), type: 'customer.updated', data: JSON.stringify({ object: { id: `cus_${j}`, object: 'customer' } }) })),
          1000,
        ),
      )
    }
    const total = baseline + EVENTS
    console.log(`${EVENTS} events committed over ${TENANTS} tenants${WEBHOOKS ? `, one webhook endpoint each (${receiverUrl})` : ''}; starting the worker`)

    const t0 = Date.now()
    worker = await startWorker({ config, db, log: pino({ level: 'silent' }), options: { sweeps: WEBHOOKS, schedules: false } })
    let dispatchedAt = 0
    let last = 0
    for (;;) {
      const dispatched = Number((await admin.query(`select count(*) from events where dispatched_at is not null`)).rows[0].count)
      if (Date.now() - last > 2000) {
        last = Date.now()
        console.log(`  ${((Date.now() - t0) / 1000).toFixed(1)} s: ${dispatched}/${total} dispatched${WEBHOOKS ? `, ${received} delivered` : ''}`)
      }
      if (!dispatchedAt && dispatched >= total) dispatchedAt = Date.now()
      if (dispatchedAt && (!WEBHOOKS || received >= EVENTS)) break
      if (Date.now() - t0 > 600_000) throw new Error('timed out')
      await sleep(100)
    }
    const dispatchS = (dispatchedAt - t0) / 1000
    const { rows } = await admin.query(
      `select consumer, count(*)::int as n, count(distinct (tenant_id, event_id))::int as distinct_events from consumed_events group by consumer`,
    )
    console.log(`consumed_events: ${JSON.stringify(rows)}`)
    console.log(`\nRESULT relay + dispatch: ${EVENTS} events in ${dispatchS.toFixed(1)} s = ${Math.round(EVENTS / dispatchS)} events/s`)
    if (WEBHOOKS) {
      const deliverS = (Date.now() - t0) / 1000
      console.log(`RESULT relay + dispatch + webhook delivery to a local receiver: ${received} deliveries in ${deliverS.toFixed(1)} s = ${Math.round(received / deliverS)} events/s`)
    }
  } finally {
    await worker?.close()
    await app.close()
    receiver.close()
    const keys = await redis.keys(`${config.QUEUE_PREFIX}:*`)
    for (let i = 0; i < keys.length; i += 1000) await redis.del(...keys.slice(i, i + 1000))
    await redis.quit()
    await db.destroy()
    await admin.end()
    const c = new pg.Client({ connectionString: ADMIN_URL })
    await c.connect()
    await c.query(`drop database if exists ${name} with (force)`)
    await c.end()
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

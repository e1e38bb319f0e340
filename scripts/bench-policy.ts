/**
 * `npm run bench:policy`: the credit policy at scale (ARCHITECTURE §12).
 *
 * 1. migrates a fresh database and provisions two tenants through the API (in-process);
 * 2. bulk-generates, as the superuser with generate_series (set-based SQL, not the API), then
 *    vacuums and analyzes as autovacuum would after the load, tenant A:
 *    BENCH_CUSTOMERS (100,000) customers with 2 open invoices each, due dates spread over the last
 *    120 days (so most are overdue, at every warning level); tenant B: BENCH_AGING_INVOICES
 *    (1,000,000) open invoices over 100,000 customers;
 * 3. times a whole sweep of tenant A (the job's function, in-process; the first sweep takes every
 *    action once: warnings, suspensions, notifications, audit rows, events) while /health is asked
 *    every 10 ms (p99 reported), then a second sweep (steady state: nothing new to do);
 * 4. times a dry run over 10,000 customers of tenant A, and the aging report as of a date over
 *    tenant B's million open invoices.
 * Environment: BENCH_CUSTOMERS, BENCH_AGING_INVOICES, BENCH_KEEP=1 keeps the database.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import Redis from 'ioredis'
import { appDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { withTenant } from '../core/kernel/db/tenant'
import { buildApp } from '../core/http/app'
import { systemContext } from '../core/kernel/context'
import { builtInAccess } from '../core/kernel/permissions'
import { agingReport } from '../core/reports/service'
import { runCreditPolicySweep } from '../core/jobs/credit-policy'
import { dryRunCreditPolicy } from '../core/workflows/credit-policy'
import { insertRun } from '../core/credit-policy/model'
import { policyContext } from '../core/workflows/credit-policy'

const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 100_000)
const AGING_INVOICES = Number(process.env.BENCH_AGING_INVOICES ?? 1_000_000)
const AGING_CUSTOMERS = Math.min(100_000, AGING_INVOICES)
const DRY_RUN_CUSTOMERS = 10_000
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TOKEN = 'bench-platform-admin-token-0123456789'
const AS_OF = '2026-11-30'

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

async function main(): Promise<void> {
  const name = `recv_bench_policy_${randomBytes(4).toString('hex')}`
  const url = dbUrl(name)
  console.log(`database ${name}: migrating`)
  await migrate(url, 'recv_app')
  const config = loadConfig({ DATABASE_URL: url, PLATFORM_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', QUEUE_PREFIX: `{bench_${randomBytes(3).toString('hex')}}` }, {})
  const db = createDb(appDatabaseUrl(config), { poolMax: 6, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const tenant = async (n: string) => {
      const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${TOKEN}` }, payload: { name: n, base_currency: 'usd', sandbox: true } })
      if (res.statusCode !== 201) throw new Error(res.body)
      const uuid = (await admin.query(`select tenant_id from tenant_directory order by created_at desc limit 1`)).rows[0].tenant_id as string
      await admin.query(`update tenants set test_clock_date = $2 where tenant_id = $1`, [uuid, AS_OF])
      return uuid
    }
    const a = await tenant('Bench policy')
    const b = await tenant('Bench aging')

    const generate = async (tenantId: string, customers: number, invoices: number, prefix: string) => {
      const gen = process.hrtime.bigint()
      await admin.query(`set session_replication_role = replica`) // bulk load: no FK or per-row triggers; consistent by construction
      await admin.query('begin')
      const q = (sql: string) => admin.query(sql, [tenantId])
      await q(`insert into customers (tenant_id, id, name, currency, credit_limit, created_at)
               select $1, 'cus_${prefix}' || lpad(c::text, 24, '0'), 'Customer ' || c, 'usd', 100000, now() - interval '400 days' from generate_series(1, ${customers}) c`)
      // Invoice i belongs to customer ((i - 1) % C) + 1; due dates spread over the 120 days before AS_OF.
      await q(`insert into invoices (tenant_id, id, number, customer_id, currency, issue_date, due_date, subtotal, tax, total, total_base, outstanding, status, journal_entry_id)
               select $1, 'inv_${prefix}' || lpad(i::text, 24, '0'), 'INV-' || i, 'cus_${prefix}' || lpad((((i - 1) % ${customers}) + 1)::text, 24, '0'), 'usd',
                      date '${AS_OF}' - 150 + (i % 30), date '${AS_OF}' - (i % 120), 1000, 100, 1100, 1100, 1100, 'open', 'je_${prefix}' || i
                 from generate_series(1, ${invoices}) i`)
      await q(`insert into customer_balances (tenant_id, customer_id, currency, pending_balance, advance_balance)
               select $1, customer_id, 'usd', sum(outstanding), 0 from invoices where tenant_id = $1 group by customer_id`)
      await admin.query('commit')
      await admin.query(`set session_replication_role = origin`)
      // What autovacuum does after a bulk load (within a minute or so): statistics, and the
      // visibility map that lets reads use index-only scans.
      await admin.query('vacuum analyze')
      console.log(`generated ${customers} customers and ${invoices} open invoices in ${seconds(gen).toFixed(1)} s`)
    }
    await generate(a, CUSTOMERS, CUSTOMERS * 2, 'a')
    await generate(b, AGING_CUSTOMERS, AGING_INVOICES, 'b')

    // Sweep, while /health is asked every 10 ms on the same event loop (as in `npm start`).
    const sweep = async (label: string) => {
      const ctx = policyContext(a, 'bench')
      const run = await withTenant(db, a, (trx) => insertRun(trx, ctx, 'manual'))
      const latencies: number[] = []
      let stop = false
      const prober = (async () => {
        while (!stop) {
          const t0 = process.hrtime.bigint()
          await app.inject({ method: 'GET', url: '/health' })
          latencies.push(seconds(t0) * 1000)
          await new Promise((r) => setTimeout(r, 10))
        }
      })()
      const t0 = process.hrtime.bigint()
      let result: unknown
      try {
        result = await runCreditPolicySweep({ runId: run.id }, { tenantId: a, jobId: `bench-${label}`, attemptsMade: 0, db })
      } finally {
        stop = true
        await prober
      }
      const s = seconds(t0)
      latencies.sort((x, y) => x - y)
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]
      console.log(`${label}: ${s.toFixed(2)} s, ${JSON.stringify(result)}; /health p99 ${p99.toFixed(1)} ms over ${latencies.length} probes`)
      return { s, p99 }
    }
    const first = await sweep('sweep #1 (every action once)')
    const counts = (await admin.query(
      `select (select count(*) from notifications where tenant_id = $1) as notifications, (select count(*) from events where tenant_id = $1) as events,
              (select count(*) from audit_log where tenant_id = $1) as audit, (select count(*) from customers where tenant_id = $1 and status = 'suspended') as suspended`,
      [a],
    )).rows[0]
    console.log(`  wrote ${counts.notifications} notifications, ${counts.events} events, ${counts.audit} audit rows; ${counts.suspended} customers suspended`)
    const second = await sweep('sweep #2 (steady state)')

    const ctx = systemContext(a, builtInAccess('admin'), 'bench')
    const ids = (await admin.query(`select id from customers where tenant_id = $1 order by id limit ${DRY_RUN_CUSTOMERS}`, [a])).rows.map((r) => r.id as string)
    let dry = 0
    for (let i = 0; i < 2; i++) {
      const t0 = process.hrtime.bigint()
      const out = await withTenant(db, a, (trx) =>
        dryRunCreditPolicy(trx, ctx, { customers: ids, rules: [{ name: 'strict', when: { '>': [{ var: 'overdue_amount' }, 0] }, actions: [{ type: 'suspend' }] }] }),
      )
      dry = seconds(t0)
      console.log(`dry run #${i + 1} over ${out.evaluated} customers: ${dry.toFixed(2)} s, summary ${JSON.stringify(out.summary)}`)
    }

    const bctx = systemContext(b, builtInAccess('admin'), 'bench')
    let aging = 0
    for (let i = 0; i < 2; i++) {
      const t0 = process.hrtime.bigint()
      const report = await withTenant(db, b, (trx) => agingReport(trx, bctx, { as_of: '2026-10-31' }))
      aging = seconds(t0)
      console.log(`aging as of 2026-10-31 #${i + 1}: ${aging.toFixed(2)} s, ${report.customers.length} customers, total ${report.total}`)
    }

    console.log(`\nRESULT credit-policy sweep of ${CUSTOMERS} customers: first ${first.s.toFixed(1)} s (every action once), steady ${second.s.toFixed(1)} s (target ≤ 60 s); /health p99 ${first.p99.toFixed(0)} / ${second.p99.toFixed(0)} ms (target < 100 ms)`)
    console.log(`RESULT dry run over ${DRY_RUN_CUSTOMERS} customers: ${dry.toFixed(2)} s (target ≤ 5 s)`)
    console.log(`RESULT aging as of a date over ${AGING_INVOICES} open invoices: ${aging.toFixed(2)} s (target ≤ 1 s)`)
  } finally {
    await app.close()
    await redis.quit()
    await db.destroy()
    await admin.end()
    if (!process.env.BENCH_KEEP) {
      const c = new pg.Client({ connectionString: ADMIN_URL })
      await c.connect()
      await c.query(`drop database if exists ${name} with (force)`)
      await c.end()
    }
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err)
    process.exit(1)
  },
)

/**
 * `npm run bench:reconciliation`: reconciliation of one tenant with a million journal lines.
 *
 * 1. migrates a fresh database and provisions a tenant through the API (in-process);
 * 2. bulk-generates, as the superuser with generate_series, a consistent ledger: customers with
 *    balances, invoices of 3 lines each (AR / revenue / tax), some partly paid (allocations and a
 *    4-line payment entry per payment), and unapplied payments (advances), caches matching;
 * 3. times checkLedger as the runtime role, then a whole reconciliation run through the job
 *    (check, counts, recording), and checks both find nothing;
 * 4. drifts one customer's cache and times the run again (it must find exactly that).
 * Environment: BENCH_LINES (default 1,000,000), BENCH_CUSTOMERS (10,000), BENCH_KEEP=1 keeps the database.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { appDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { withTenant } from '../core/kernel/db/tenant'
import { buildApp } from '../core/http/app'
import { checkLedger } from '../core/ledger/integrity'
import { systemContext } from '../core/kernel/context'
import { builtInAccess } from '../core/kernel/permissions'
import { completeRun, createRun, startRun } from '../core/reconciliation/service'
import Redis from 'ioredis'

const LINES = Number(process.env.BENCH_LINES ?? 1_000_000)
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 10_000)
const ADMIN_URL = process.env.BENCH_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const TOKEN = 'bench-platform-admin-token-0123456789'

function dbUrl(name: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  return u.toString()
}

const seconds = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9

async function main(): Promise<void> {
  const name = `recv_bench_rec_${randomBytes(4).toString('hex')}`
  const url = dbUrl(name)
  console.log(`database ${name}: migrating`)
  await migrate(url, 'recv_app')
  const config = loadConfig({ DATABASE_URL: url, PLATFORM_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'silent', QUEUE_PREFIX: `{bench_${randomBytes(3).toString('hex')}}` }, {})
  const db = createDb(appDatabaseUrl(config), { poolMax: 4, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    const res = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${TOKEN}` }, payload: { name: 'Bench', base_currency: 'usd' } })
    if (res.statusCode !== 201) throw new Error(res.body)
    const tenantId = (await admin.query(`select tenant_id from tenant_directory`)).rows[0].tenant_id as string

    // Shape: per customer, invoices of 3 lines; every 4th invoice half paid by a payment (4 lines:
    // cash / AR for the applied half, cash / advances for an unapplied 100).
    const invoicesPerCustomer = Math.max(1, Math.round(LINES / CUSTOMERS / (3 + 4 / 4)))
    const invoices = invoicesPerCustomer * CUSTOMERS
    const payments = Math.floor(invoices / 4)
    console.log(`generating ${CUSTOMERS} customers, ${invoices} invoices, ${payments} payments (${invoices * 3 + payments * 4} journal lines)`)
    const gen = process.hrtime.bigint()
    await admin.query(`set session_replication_role = replica`) // bulk load: no per-row triggers, the data is consistent by construction
    await admin.query('begin')
    const q = (sql: string) => admin.query(sql, [tenantId])
    await q(`insert into customers (tenant_id, id, name, currency)
             select $1, 'cus_' || lpad(c::text, 26, '0'), 'Customer ' || c, 'usd' from generate_series(1, ${CUSTOMERS}) c`)
    // Invoice i (1-based) belongs to customer ((i - 1) % C) + 1: total 1100 = 1000 net + 100 tax.
    await q(`insert into journal_entries (tenant_id, id, entry_date, event, source_type, source_id, currency)
             select $1, 'je_i' || lpad(i::text, 25, '0'), date '2026-01-01' + (i % 300), 'invoice', 'invoice', 'inv_' || lpad(i::text, 26, '0'), 'usd'
               from generate_series(1, ${invoices}) i`)
    await q(`insert into journal_lines (tenant_id, entry_id, line_no, entry_date, account_code, role, customer_id, currency, debit, credit, tx_debit, tx_credit)
             select $1, 'je_i' || lpad(i::text, 25, '0'), l.no, date '2026-01-01' + (i % 300), l.code, l.role,
                    case when l.role = 'ar' then 'cus_' || lpad((((i - 1) % ${CUSTOMERS}) + 1)::text, 26, '0') end, 'usd',
                    l.debit, l.credit, l.debit, l.credit
               from generate_series(1, ${invoices}) i,
                    (values (1, '1100', 'ar', 1100, 0), (2, '4000', 'revenue', 0, 1000), (3, '2200', 'tax', 0, 100)) l(no, code, role, debit, credit)`)
    // Payment p pays half of invoice 4p: 550 applied, 100 unapplied.
    await q(`insert into journal_entries (tenant_id, id, entry_date, event, source_type, source_id, currency)
             select $1, 'je_p' || lpad(p::text, 25, '0'), date '2026-10-01', 'payment', 'payment', 'pay_' || lpad(p::text, 26, '0'), 'usd'
               from generate_series(1, ${payments}) p`)
    await q(`insert into journal_lines (tenant_id, entry_id, line_no, entry_date, account_code, role, customer_id, currency, debit, credit, tx_debit, tx_credit)
             select $1, 'je_p' || lpad(p::text, 25, '0'), l.no, date '2026-10-01', l.code, l.role,
                    case when l.role in ('ar', 'advances') then 'cus_' || lpad((((4 * p - 1) % ${CUSTOMERS}) + 1)::text, 26, '0') end, 'usd',
                    l.debit, l.credit, l.debit, l.credit
               from generate_series(1, ${payments}) p,
                    (values (1, '1000', 'cash', 550, 0), (2, '1100', 'ar', 0, 550), (3, '1000', 'cash', 100, 0), (4, '2100', 'advances', 0, 100)) l(no, code, role, debit, credit)`)
    await q(`insert into invoices (tenant_id, id, number, customer_id, currency, issue_date, due_date, subtotal, tax, total, total_base, outstanding, status, journal_entry_id)
             select $1, 'inv_' || lpad(i::text, 26, '0'), 'INV-' || i, 'cus_' || lpad((((i - 1) % ${CUSTOMERS}) + 1)::text, 26, '0'), 'usd',
                    date '2026-01-01' + (i % 300), date '2026-01-31' + (i % 300), 1000, 100, 1100, 1100,
                    case when i % 4 = 0 then 550 else 1100 end, case when i % 4 = 0 then 'partially_paid' else 'open' end,
                    'je_i' || lpad(i::text, 25, '0')
               from generate_series(1, ${invoices}) i`)
    await q(`insert into payments (tenant_id, id, customer_id, amount, currency, received_date, method, unapplied_amount, journal_entry_id)
             select $1, 'pay_' || lpad(p::text, 26, '0'), 'cus_' || lpad((((4 * p - 1) % ${CUSTOMERS}) + 1)::text, 26, '0'), 650, 'usd', date '2026-10-01', 'cash', 100,
                    'je_p' || lpad(p::text, 25, '0')
               from generate_series(1, ${payments}) p`)
    await q(`insert into allocations (tenant_id, id, customer_id, source_type, source_id, invoice_id, amount, base_amount, effective_date)
             select $1, 'alc_' || lpad(p::text, 26, '0'), 'cus_' || lpad((((4 * p - 1) % ${CUSTOMERS}) + 1)::text, 26, '0'), 'payment', 'pay_' || lpad(p::text, 26, '0'),
                    'inv_' || lpad((4 * p)::text, 26, '0'), 550, 550, date '2026-10-01'
               from generate_series(1, ${payments}) p`)
    await q(`insert into customer_balances (tenant_id, customer_id, currency, pending_balance, advance_balance)
             select $1, c.id, 'usd',
                    coalesce((select sum(outstanding) from invoices i where i.tenant_id = $1 and i.customer_id = c.id), 0),
                    coalesce((select sum(unapplied_amount) from payments p where p.tenant_id = $1 and p.customer_id = c.id), 0)
               from customers c where c.tenant_id = $1`)
    await admin.query('commit')
    await admin.query(`set session_replication_role = origin`)
    await admin.query('analyze')
    const lines = Number((await q(`select count(*) from journal_lines where tenant_id = $1`)).rows[0].count)
    console.log(`generated ${lines} journal lines in ${seconds(gen).toFixed(1)} s`)

    const ctx = systemContext(tenantId, builtInAccess('admin'), 'bench')
    for (let i = 1; i <= 2; i++) {
      const t0 = process.hrtime.bigint()
      const found = await withTenant(db, tenantId, (trx) => checkLedger(trx, tenantId))
      console.log(`checkLedger #${i}: ${seconds(t0).toFixed(2)} s, ${found.length} discrepancies`)
      if (found.length) throw new Error(`unexpected discrepancies: ${JSON.stringify(found.slice(0, 5))}`)
    }
    const runOnce = async () => {
      const run = await withTenant(db, tenantId, (trx) => createRun(trx, ctx, 'manual'))
      await withTenant(db, tenantId, (trx) => startRun(trx, ctx, run.id))
      const t0 = process.hrtime.bigint()
      const done = await withTenant(db, tenantId, (trx) => completeRun(trx, ctx, run.id))
      return { s: seconds(t0), done }
    }
    const clean = await runOnce()
    console.log(`reconciliation run (check, counts, record): ${clean.s.toFixed(2)} s, checked ${clean.done.checked}, ${clean.done.discrepancy_count} discrepancies`)

    await admin.query(`update customer_balances set pending_balance = pending_balance + 1 where tenant_id = $1 and customer_id = 'cus_' || lpad('77', 26, '0')`, [tenantId])
    const drift = await runOnce()
    console.log(`run with one drifted customer: ${drift.s.toFixed(2)} s, ${drift.done.discrepancy_count} discrepancies: ${JSON.stringify(drift.done.discrepancies)}`)
    console.log(`\nRESULT reconciliation of ${lines} journal lines: ${clean.s.toFixed(2)} s (target ≤ 10 s)`)
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


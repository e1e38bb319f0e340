import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { exactAmount } from '../kernel/money'
import { ledgerContext } from '../ledger/engine'
import { customerLedgerRange } from '../ledger/reads'
import { getCustomer } from '../customers/service'
import { AGING_BUCKETS, Buckets, emptyBuckets } from './aging'
import { openItemSumsCte } from './open-items'

/**
 * Receivables reports. A customer's amounts are in its own currency; the aging report's totals are
 * in the tenant's base currency (each open item converted at its document's rate) with a breakdown
 * per currency.
 */

/**
 * Open outstanding as of a date, summed per customer with one column per aging bucket in SQL (the
 * shared open-items computation of ./open-items.ts): in the customer's currency and in base, each
 * invoice converted at its own rate (round half up) before summing; with the customer's name and
 * currency (empty when the key cannot see the customer).
 */
async function outstandingAsOf(trx: Trx, tenantId: string, asOf: string) {
  // A million open items grouped by customer: hashed in memory, neither sorted nor spilled to disk
  // (row-level security hides the row count from the planner, which would otherwise sort them), and
  // no JIT compilation, which costs more than it saves on this plan.
  await trx.raw(`set local work_mem = '64MB'; set local enable_sort = off; set local jit = off`)
  const { rows } = await trx.raw(
    `with ${openItemSumsCte()}
     select s.*, coalesce(c.name, '') as name, coalesce(c.currency, '') as currency
       from open_item_sums s left join customers c on c.tenant_id = :t and c.id = s.customer_id`,
    { t: tenantId, d: asOf },
  )
  const n = (x: string | number) => Number(x)
  return (rows as Record<string, string>[]).map((r) => ({
    customer_id: r.customer_id,
    name: r.name,
    currency: r.currency,
    amounts: [n(r.a0), n(r.a1), n(r.a2), n(r.a3), n(r.a4)],
    base: [n(r.b0), n(r.b1), n(r.b2), n(r.b3), n(r.b4)],
  }))
}

/**
 * Unapplied credit as of a date, per customer: exact from the advances sub-ledger lines, in the
 * customer's currency and in base (the lines' base amounts: each credit at its own document's rate,
 * which is the rate it leaves advances at when applied or refunded). Journal lines carry no row
 * scope of their own (only tenant-wide permissions read the ledger), so the customers are taken
 * through the customers table, which a key limited to its own customers sees only those of.
 */
async function unappliedAsOf(trx: Trx, tenantId: string, asOf: string) {
  const { rows } = await trx.raw(
    `select customer_id, sum(tx_credit - tx_debit)::bigint as amount, sum(credit - debit)::bigint as base
       from journal_lines
      where tenant_id = ? and role = 'advances' and customer_id is not null and entry_date <= ?
        and customer_id in (select id from customers where tenant_id = journal_lines.tenant_id)
      group by customer_id
     having sum(tx_credit - tx_debit) <> 0 or sum(credit - debit) <> 0`,
    [tenantId, asOf],
  )
  return rows as { customer_id: string; amount: number; base: number }[]
}

/** Aged amounts in one currency: open outstanding by bucket, unapplied credits, net total. */
interface AgingAmounts {
  buckets: Buckets
  unapplied_credits: number
  total: number
}

const emptyAmounts = (): AgingAmounts => ({ buckets: emptyBuckets(), unapplied_credits: 0, total: 0 })


const withTotal = (a: AgingAmounts): AgingAmounts => ({ ...a, total: AGING_BUCKETS.reduce((s, b) => s + a.buckets[b], 0) - a.unapplied_credits })

/** Aged amounts summed over many customers: exact (BigInt), sent as numbers while exact. */
interface AgingSums {
  buckets: Record<keyof Buckets, bigint>
  unapplied_credits: bigint
}

const emptySums = (): AgingSums => ({
  buckets: Object.fromEntries(AGING_BUCKETS.map((b) => [b, 0n])) as Record<keyof Buckets, bigint>,
  unapplied_credits: 0n,
})

function addToSums(into: AgingSums, from: AgingAmounts): void {
  for (const b of AGING_BUCKETS) into.buckets[b] += BigInt(from.buckets[b])
  into.unapplied_credits += BigInt(from.unapplied_credits)
}

function sumsView(s: AgingSums) {
  const total = AGING_BUCKETS.reduce((t, b) => t + s.buckets[b], 0n) - s.unapplied_credits
  return {
    buckets: Object.fromEntries(AGING_BUCKETS.map((b) => [b, exactAmount(s.buckets[b])])) as Record<keyof Buckets, number | string>,
    unapplied_credits: exactAmount(s.unapplied_credits),
    total: exactAmount(total),
  }
}

interface CustomerAging extends AgingAmounts {
  customer: string
  name: string
  currency: string
  /** The same amounts in the tenant's base currency. */
  base: AgingAmounts
}

/** String order of the report (as localeCompare, without building a collator per comparison). */
const byName = new Intl.Collator()

/**
 * Aging as of a date (default: the tenant's today): open invoice outstanding by days past due,
 * unapplied credits on their own line, total = Σ buckets − unapplied credits. Everything dated
 * after `as_of` is ignored. Customer rows are in the customer's currency, with `base` beside them;
 * the report's buckets and totals are in the base currency: each open invoice converted at its own
 * exchange rate (round half up, per invoice), each unapplied credit at its document's rate (its
 * advances lines' base amounts). `currencies` breaks the report down per original currency.
 */
export async function agingReport(trx: Trx, ctx: RequestContext, q: { as_of?: string }) {
  const lc = await ledgerContext(trx, ctx)
  const asOf = q.as_of ?? lc.today
  const open = await outstandingAsOf(trx, ctx.tenantId, asOf)
  const unapplied = await unappliedAsOf(trx, ctx.tenantId, asOf)

  const byCustomer = new Map<string, CustomerAging>()
  const entry = (id: string, name = '', currency = '') => {
    let c = byCustomer.get(id)
    if (!c) byCustomer.set(id, (c = { customer: id, name, currency, ...emptyAmounts(), base: emptyAmounts() }))
    return c
  }
  for (const r of open) {
    const c = entry(r.customer_id, r.name, r.currency)
    AGING_BUCKETS.forEach((b, i) => {
      c.buckets[b] += r.amounts[i]
      c.base.buckets[b] += r.base[i]
    })
  }
  const missing: string[] = []
  for (const r of unapplied) {
    if (!byCustomer.has(r.customer_id)) missing.push(r.customer_id)
    const c = entry(r.customer_id)
    c.unapplied_credits += r.amount
    c.base.unapplied_credits += r.base
  }

  // Names of the customers with unapplied credit only (the others came with their sums).
  const names: { id: string; name: string; currency: string }[] = missing.length
    ? await trx('customers').where({ tenant_id: ctx.tenantId }).whereRaw('id in (select unnest(?::text[]))', [missing]).select('id', 'name', 'currency')
    : []
  for (const n of names) Object.assign(byCustomer.get(n.id)!, { name: n.name, currency: n.currency })

  const base = emptySums()
  const perCurrency = new Map<string, { amounts: AgingSums; base: AgingSums }>()
  const customers = [...byCustomer.values()]
    .sort((a, b) => byName.compare(a.name, b.name) || byName.compare(a.customer, b.customer))
    .map((c) => {
      addToSums(base, c.base)
      let cur = perCurrency.get(c.currency)
      if (!cur) perCurrency.set(c.currency, (cur = { amounts: emptySums(), base: emptySums() }))
      addToSums(cur.amounts, c)
      addToSums(cur.base, c.base)
      const own = withTotal(c)
      // Bucket amounts also flat on the row, for spreadsheet-style consumers.
      return {
        customer: c.customer, name: c.name, currency: c.currency,
        buckets: own.buckets, ...own.buckets, unapplied_credits: own.unapplied_credits, total: own.total,
        base: { currency: lc.base_currency, ...withTotal(c.base) },
      }
    })
  const totals = sumsView(base)
  return {
    object: 'aging_report' as const,
    as_of: asOf,
    currency: lc.base_currency,
    buckets: totals.buckets,
    unapplied_credits: totals.unapplied_credits,
    total: totals.total,
    currencies: [...perCurrency.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([currency, { amounts, base: inBase }]) => ({ currency, ...sumsView(amounts), base: sumsView(inBase) })),
    customers,
  }
}

export type AgingReport = Awaited<ReturnType<typeof agingReport>>

function firstOfMonth(date: string): string {
  return `${date.slice(0, 7)}-01`
}

/**
 * A customer statement for from..to (inclusive; default: the current month to date): the balance
 * before `from`, the sub-ledger rows in the range with a running balance, and the closing balance.
 */
export async function customerStatement(trx: Trx, ctx: RequestContext, customerId: string, q: { from?: string; to?: string }) {
  const customer = await getCustomer(trx, ctx, customerId)
  const lc = await ledgerContext(trx, ctx)
  const to = q.to ?? lc.today
  const from = q.from ?? firstOfMonth(to)
  if (from > to) throw new AppError('validation_failed', '`from` is after `to`.', { param: 'from' })
  const { opening_balance, transactions } = await customerLedgerRange(trx, ctx, customerId, from, to)
  let balance = opening_balance
  const rows = transactions.map((t) => ({ ...t, running_balance: (balance += t.amount) }))
  return {
    object: 'statement' as const,
    customer: customer.id,
    name: customer.name,
    currency: customer.currency,
    from,
    to,
    opening_balance,
    closing_balance: balance,
    total_debits: rows.reduce((s, r) => s + Math.max(r.amount, 0), 0),
    total_credits: rows.reduce((s, r) => s + Math.max(-r.amount, 0), 0),
    transactions: rows,
  }
}

export type Statement = Awaited<ReturnType<typeof customerStatement>>

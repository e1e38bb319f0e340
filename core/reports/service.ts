import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { exactAmount } from '../kernel/money'
import { ledgerContext } from '../ledger/engine'
import { customerLedgerRange } from '../ledger/reads'
import { getCustomer } from '../customers/service'
import { AGING_BUCKETS, Buckets } from './aging'
import { AMOUNT_COLUMNS, openItemSumsCte } from './open-items'

/**
 * Receivables reports. A customer's amounts are in its own currency; the aging report's totals are
 * in the tenant's base currency (each open item converted at its document's rate) with a breakdown
 * per currency.
 */

/**
 * One row per customer with something aged as of a date, already merged and sorted: open outstanding
 * per aging bucket (the shared open-items computation of ./open-items.ts), in the customer's
 * currency and in base (each invoice converted at its own rate, round half up, before summing), and
 * unapplied credit, exact from the advances sub-ledger lines (each credit at its own document's
 * rate, which is the rate it leaves advances at when applied or refunded). Journal lines carry no
 * row scope of their own (only tenant-wide permissions read the ledger), so credits are taken
 * through the customers table: a key limited to its own customers sees the credits of those only,
 * as it sees their invoices only (the invoices' row scope), so every row has its customer.
 *
 * A million open items make one parallel pass over the covering open-invoices index, grouped in
 * customer order as it is read (no hash table of a hundred thousand groups), and one row per
 * customer out of Postgres with the twelve amounts packed into one text column, so the service
 * parses four values per customer, not fourteen. The rows come in the order of the customers'
 * name index (linguistic order of the name, then the id: ICU root collation; migration
 * 20261225000010): each customer's rank is read off the index, and the rows are sorted by that
 * number, not by comparing names.
 */
async function agedRows(trx: Trx, tenantId: string, asOf: string) {
  // Row-level security hides the row counts from the planner, which then prices a hash aggregate
  // of the open items below the grouped pass and a sort of the customers below their name index,
  // and gets both wrong: no hashing of the million items, no sort, and no JIT compilation, which
  // costs more than it saves on this plan. The smaller groupings left (credits, later movements)
  // sort in memory.
  await trx.raw(`set local work_mem = '64MB'; set local enable_hashagg = off; set local enable_sort = off; set local jit = off`)
  const { rows } = await trx.raw(
    `with ${openItemSumsCte()}, credits as (
       select customer_id, sum(tx_credit - tx_debit)::bigint as ua, sum(credit - debit)::bigint as ub
         from journal_lines
        where tenant_id = :t and role = 'advances' and customer_id is not null and entry_date <= :d
          and customer_id in (select id from customers where tenant_id = journal_lines.tenant_id)
        group by customer_id
       having sum(tx_credit - tx_debit) <> 0 or sum(credit - debit) <> 0
     ), aged as (
       select coalesce(o.customer_id, u.customer_id) as customer_id,
              concat_ws(',', ${AMOUNT_COLUMNS.map((a) => `coalesce(o.${a}, 0)`).join(', ')}, coalesce(u.ua, 0), coalesce(u.ub, 0)) as v
         from open_item_sums o
         full join credits u on u.customer_id = o.customer_id
     ), ranked as (
       select id, name, currency, row_number() over (order by name collate "und-x-icu", id collate "und-x-icu") as rank
         from customers where tenant_id = :t
     )
     select c.id, c.name, c.currency, aged.v
       from ranked c
       join aged on aged.customer_id = c.id
      order by c.rank`,
    { t: tenantId, d: asOf },
  )
  return rows as { id: string; name: string; currency: string; v: string }[]
}

/**
 * An exact sum of integers: a number while every partial sum is a safe integer, BigInt from the
 * first one that is not (so a hundred thousand customers cost a hundred thousand additions).
 */
class ExactSum {
  private n = 0
  private big: bigint | null = null
  add(x: number): void {
    if (this.big !== null) this.big += BigInt(x)
    else if (Number.isSafeInteger(this.n + x)) this.n += x
    else this.big = BigInt(this.n) + BigInt(x)
  }
  get value(): bigint {
    return this.big ?? BigInt(this.n)
  }
}

/** Aged amounts summed over many customers: five buckets, then unapplied credits. */
type AgingSums = ExactSum[]
const emptySums = (): AgingSums => Array.from({ length: 6 }, () => new ExactSum())

/** Adds one row's five buckets (`v[at]` to `v[at + 4]`) and its unapplied `credit`. */
function addToSums(into: AgingSums, v: number[], at: number, credit: number): void {
  for (let i = 0; i < 5; i++) into[i].add(v[at + i])
  into[5].add(credit)
}

function sumsView(s: AgingSums) {
  const buckets = s.slice(0, 5).map((x) => x.value)
  return {
    buckets: Object.fromEntries(AGING_BUCKETS.map((b, i) => [b, exactAmount(buckets[i])])) as Record<keyof Buckets, number | string>,
    unapplied_credits: exactAmount(s[5].value),
    total: exactAmount(buckets.reduce((t, x) => t + x, 0n) - s[5].value),
  }
}

/**
 * Aging as of a date (default: the tenant's today): open invoice outstanding by days past due,
 * unapplied credits on their own line, total = Σ buckets − unapplied credits. Everything dated
 * after `as_of` is ignored. Customer rows are in the customer's currency, with `base` beside them;
 * the report's buckets and totals are in the base currency: each open invoice converted at its own
 * exchange rate (round half up, per invoice), each unapplied credit at its document's rate (its
 * advances lines' base amounts). `currencies` breaks the report down per original currency.
 * Customers come in name order (then id).
 */
export async function agingReport(trx: Trx, ctx: RequestContext, q: { as_of?: string }) {
  const lc = await ledgerContext(trx, ctx)
  const asOf = q.as_of ?? lc.today
  return agingFromRows(await agedRows(trx, ctx.tenantId, asOf), asOf, lc.base_currency)
}

/**
 * The report from the aged rows (agedRows): a hundred thousand customers make a hundred thousand
 * rows, so each is read once into plain numbers and built as one object literal, and the sums take
 * the amounts by position (five buckets, then unapplied credits; in the customer's currency at 0,
 * in base at 5).
 */
function agingFromRows(rows: { id: string; name: string; currency: string; v: string }[], asOf: string, baseCurrency: string) {
  const base = emptySums()
  const perCurrency = new Map<string, { amounts: AgingSums; base: AgingSums }>()
  const customers = rows.map((r) => {
    const v = r.v.split(',').map(Number)
    let cur = perCurrency.get(r.currency)
    if (!cur) perCurrency.set(r.currency, (cur = { amounts: emptySums(), base: emptySums() }))
    addToSums(cur.amounts, v, 0, v[10])
    addToSums(cur.base, v, 5, v[11])
    addToSums(base, v, 5, v[11])
    const buckets = { current: v[0], '1_30': v[1], '31_60': v[2], '61_90': v[3], '90_plus': v[4] }
    return {
      customer: r.id,
      name: r.name,
      currency: r.currency,
      buckets,
      // Bucket amounts also flat on the row, for spreadsheet-style consumers.
      current: v[0],
      '1_30': v[1],
      '31_60': v[2],
      '61_90': v[3],
      '90_plus': v[4],
      unapplied_credits: v[10],
      total: v[0] + v[1] + v[2] + v[3] + v[4] - v[10],
      base: {
        currency: baseCurrency,
        buckets: { current: v[5], '1_30': v[6], '31_60': v[7], '61_90': v[8], '90_plus': v[9] },
        unapplied_credits: v[11],
        total: v[5] + v[6] + v[7] + v[8] + v[9] - v[11],
      },
    }
  })
  const totals = sumsView(base)
  return {
    object: 'aging_report' as const,
    as_of: asOf,
    currency: baseCurrency,
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

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

/** The aged amounts of a customer in its own currency (five buckets, then unapplied credit), and in base. */
const OWN_COLUMNS = [...AMOUNT_COLUMNS.slice(0, 5).map((a) => `coalesce(o.${a}, 0)`), 'coalesce(u.ua, 0)']
const BASE_COLUMNS = [...AMOUNT_COLUMNS.slice(5).map((a) => `coalesce(o.${a}, 0)`), 'coalesce(u.ub, 0)']

/**
 * One row per customer with something aged as of a date: open outstanding per aging bucket (the
 * shared open-items computation of ./open-items.ts), in the customer's currency and in base (each
 * invoice converted at its own rate, round half up, before summing), and unapplied credit, exact
 * from the advances sub-ledger lines (each credit at its own document's rate, which is the rate it
 * leaves advances at when applied or refunded). Journal lines carry no row scope of their own (only
 * tenant-wide permissions read the ledger), so credits are taken through the customers table: a key
 * limited to its own customers sees the credits of those only, as it sees their invoices only (the
 * invoices' row scope), so every row has its customer.
 *
 * A million open items make one pass over the covering open-invoices index, grouped in customer
 * order as it is read (no hash table of a hundred thousand groups), and one row per customer out of
 * Postgres with the twelve amounts packed into one text column, so the service reads four values
 * per customer, not fourteen. A customer whose base amounts are its amounts (everything at rate 1:
 * the base currency) sends six, the amounts and the credit once (`readAmounts` copies them). Each
 * row carries the customer's rank in the report's order (linguistic order of the name, then the id:
 * ICU root collation), read off the customers' name index (migration 20261225000010) rather than by
 * comparing names.
 *
 * The rows are not sorted in Postgres: they come through a cursor as the grouped pass makes them,
 * AGED_BATCH at a time, and the service asks for the next batch before it builds the one it has, so
 * Postgres can aggregate while the service builds, and each row is put at its rank.
 */
const AGED_SQL = `with ${openItemSumsCte()}, credits as (
       select customer_id, sum(tx_credit - tx_debit)::bigint as ua, sum(credit - debit)::bigint as ub
         from journal_lines
        where tenant_id = :t and role = 'advances' and customer_id is not null and entry_date <= :d
          and customer_id in (select id from customers where tenant_id = journal_lines.tenant_id)
        group by customer_id
       having sum(tx_credit - tx_debit) <> 0 or sum(credit - debit) <> 0
     ), aged as (
       select coalesce(o.customer_id, u.customer_id) as customer_id,
              case when (${BASE_COLUMNS.join(', ')}) = (${OWN_COLUMNS.join(', ')}) then concat_ws(',', ${OWN_COLUMNS.join(', ')})
                   else concat_ws(',', ${OWN_COLUMNS.slice(0, 5).join(', ')}, ${BASE_COLUMNS.slice(0, 5).join(', ')}, ${OWN_COLUMNS[5]}, ${BASE_COLUMNS[5]}) end as v
         from open_item_sums o
         full join credits u on u.customer_id = o.customer_id
     ), ranked as (
       select id, name, currency, (row_number() over (order by name collate "und-x-icu", id collate "und-x-icu"))::int as rank
         from customers where tenant_id = :t and name is not null -- every customer: the name index's predicate (migration 20261227000010)
     )
     select c.rank, c.id, c.name, c.currency, aged.v
       from ranked c
       join aged on aged.customer_id = c.id`

/** Rows per cursor fetch. */
const AGED_BATCH = 10_000

type AgedRow = { rank: number; id: string; name: string; currency: string; v: string }

async function forEachAgedBatch(trx: Trx, tenantId: string, asOf: string, batch: number, onBatch: (rows: AgedRow[]) => void): Promise<void> {
  // Row-level security hides the row counts from the planner, which then prices a hash aggregate
  // of the open items below the grouped pass and gets it wrong: no hashing of the million items,
  // and no JIT compilation, which costs more than it saves on this plan. No parallel workers: on two
  // cores the parallel plan took twice as long as one process (1.8–2.3 s against 0.85–0.95 s over
  // a million items), and the service's build runs beside it. The cursor is planned for all of
  // its rows, as the query would be. No nested loops: with statistics that lag a bulk load
  // (autovacuum has not analyzed the new rows yet), Postgres counted one customer and one open item
  // and recomputed the aged amounts once per customer: 13 s instead of a fraction of one for 200
  // customers and 47,000 open items.
  await trx.raw(
    `set local work_mem = '64MB'; set local enable_hashagg = off; set local enable_sort = off; set local enable_nestloop = off; set local jit = off; ` +
      `set local max_parallel_workers_per_gather = 0; set local cursor_tuple_fraction = 1`,
  )
  await trx.raw(`declare aged_rows no scroll cursor for ${AGED_SQL}`, { t: tenantId, d: asOf })
  const size = Math.max(1, Math.trunc(batch))
  // knex sends a query when it is awaited (then() called); `setImmediate` lets it go out before
  // the build of the batch in hand takes the event loop.
  // A fetch still out when the build throws fails with the transaction: caught, so it is not an
  // unhandled rejection.
  const fetch = () => {
    const p = trx.raw(`fetch ${size} from aged_rows`).then((r: { rows: AgedRow[] }) => r.rows)
    p.catch(() => undefined)
    return p
  }
  let next: Promise<AgedRow[]> | null = fetch()
  while (next) {
    const rows: AgedRow[] = await next
    next = rows.length === size ? fetch() : null
    if (next) await new Promise((resolve) => setImmediate(resolve))
    onBatch(rows)
  }
  await trx.raw('close aged_rows')
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
function addToSums(into: AgingSums, v: ArrayLike<number>, at: number, credit: number): void {
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
 * Reads the comma-separated integers of an aged row into `out`, without a substring or an array per
 * row (a hundred thousand rows): twelve (five buckets and five in base, then unapplied credit and
 * in base), or six when base is the same (five buckets, then unapplied credit), put where the twelve
 * would be.
 */
function readAmounts(s: string, out: Float64Array): void {
  let k = 0
  let n = 0
  let negative = false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 44 /* , */) {
      out[k++] = negative ? -n : n
      n = 0
      negative = false
    } else if (c === 45 /* - */) negative = true
    else n = n * 10 + (c - 48)
  }
  out[k] = negative ? -n : n
  if (k === 5) {
    out[10] = out[11] = out[5]
    for (let i = 0; i < 5; i++) out[5 + i] = out[i]
  } else if (k !== 11) throw new Error(`an aged row has 6 or 12 amounts, not ${k + 1}`)
}

/**
 * Aging as of a date (default: the tenant's today): open invoice outstanding by days past due,
 * unapplied credits on their own line, total = Σ buckets − unapplied credits. Everything dated
 * after `as_of` is ignored. Customer rows are in the customer's currency, with `base` beside them;
 * the report's buckets and totals are in the base currency: each open invoice converted at its own
 * exchange rate (round half up, per invoice), each unapplied credit at its document's rate (its
 * advances lines' base amounts). `currencies` breaks the report down per original currency.
 * Customers come in name order (then id). `batch`: rows per cursor fetch.
 */
export async function agingReport(trx: Trx, ctx: RequestContext, q: { as_of?: string }, batch = AGED_BATCH) {
  const lc = await ledgerContext(trx, ctx)
  const asOf = q.as_of ?? lc.today
  const report = new AgingBuilder(asOf, lc.base_currency)
  await forEachAgedBatch(trx, ctx.tenantId, asOf, batch, (rows) => report.add(rows))
  return report.build()
}

/**
 * The report from the aged rows, batch by batch: a hundred thousand customers make a hundred
 * thousand rows, so each is read once into plain numbers, built as one object literal and put at
 * its rank; the sums take the amounts by position (five buckets, then unapplied credits; in the
 * customer's currency at 0, in base at 5).
 */
class AgingBuilder {
  private readonly base = emptySums()
  private readonly perCurrency = new Map<string, { amounts: AgingSums; base: AgingSums }>()
  /** The rows in the order they come, with their ranks (placed by rank at the end). */
  private readonly rows: ReturnType<typeof customerRow>[] = []
  private readonly ranks: number[] = []
  private maxRank = 0
  private readonly v = new Float64Array(12)

  constructor(
    private readonly asOf: string,
    private readonly baseCurrency: string,
  ) {}

  add(rows: AgedRow[]): void {
    const v = this.v
    for (const r of rows) {
      readAmounts(r.v, v)
      let cur = this.perCurrency.get(r.currency)
      if (!cur) this.perCurrency.set(r.currency, (cur = { amounts: emptySums(), base: emptySums() }))
      addToSums(cur.amounts, v, 0, v[10])
      addToSums(cur.base, v, 5, v[11])
      addToSums(this.base, v, 5, v[11])
      this.rows.push(customerRow(r, v, this.baseCurrency))
      this.ranks.push(r.rank)
      if (r.rank > this.maxRank) this.maxRank = r.rank
    }
  }

  /**
   * The rows by rank, without comparing: each put at its rank in an array as long as the highest
   * (ranks count every customer, so the ones with nothing aged leave holes, dropped). Stored in the
   * order they came first: writing a large array at random positions from empty would make it sparse.
   */
  private inRankOrder(): ReturnType<typeof customerRow>[] {
    const byRank = new Array<ReturnType<typeof customerRow> | undefined>(this.maxRank).fill(undefined)
    this.rows.forEach((row, i) => (byRank[this.ranks[i] - 1] = row))
    return byRank.filter((c): c is ReturnType<typeof customerRow> => c !== undefined)
  }

  build() {
    const totals = sumsView(this.base)
    return {
      object: 'aging_report' as const,
      as_of: this.asOf,
      currency: this.baseCurrency,
      buckets: totals.buckets,
      unapplied_credits: totals.unapplied_credits,
      total: totals.total,
      currencies: [...this.perCurrency.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, { amounts, base: inBase }]) => ({ currency, ...sumsView(amounts), base: sumsView(inBase) })),
      customers: this.inRankOrder(),
    }
  }
}

function customerRow(r: AgedRow, v: Float64Array, baseCurrency: string) {
  return {
    customer: r.id,
    name: r.name,
    currency: r.currency,
    buckets: { current: v[0], '1_30': v[1], '31_60': v[2], '61_90': v[3], '90_plus': v[4] },
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

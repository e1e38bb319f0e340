import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { exactAmount, normalizeDecimal } from '../kernel/money'
import { paginate, page, ListQuery } from '../kernel/pagination'
import type { LineRole } from '../kernel/plugins/contract'
import { ledgerContext, type CustomerTxnInsert } from './engine'

/**
 * Read side of the ledger: the customer sub-ledger, journal entries, the chart of accounts and the
 * trial balance. GL balances are always aggregated from journal lines, never read from a cache.
 */

// ---- customer sub-ledger ----------------------------------------------------------------------

/** A sub-ledger row as read back: what a posting inserts (CustomerTxnInsert), with its time and reversals. */
export interface CustomerTransactionRow extends CustomerTxnInsert {
  created_at: Date
  /** Σ of the amounts of the rows reversing this one (opposite sign), 0 when none. */
  reversals_sum: number
}

export type TransactionStatus = 'posted' | 'reversed' | 'partially_reversed'

/** How much of a row its reversals undid (positive), and the status that follows. */
export function reversalState(amount: number, reversalsSum: number): { reversed_amount: number; status: TransactionStatus } {
  const reversed = Math.abs(reversalsSum)
  if (reversed === 0) return { reversed_amount: 0, status: 'posted' }
  return { reversed_amount: reversed, status: reversed >= Math.abs(amount) ? 'reversed' : 'partially_reversed' }
}

export function transactionView(t: CustomerTransactionRow) {
  return {
    id: t.id,
    object: 'customer_transaction' as const,
    customer: t.customer_id,
    type: t.type,
    amount: t.amount,
    currency: t.currency,
    balance_before: t.balance_before,
    balance_after: t.balance_after,
    reference: t.reference,
    source: t.source_id,
    source_type: t.source_type,
    posting_date: t.posting_date,
    ...reversalState(t.amount, t.reversals_sum),
    reverses: t.reverses_id,
    reason: t.reason,
    actor: t.actor,
    journal_entry: t.journal_entry_id,
    created: t.created_at.toISOString(),
  }
}

export type TransactionView = ReturnType<typeof transactionView>

/**
 * Sub-ledger rows (alias `t`) with `reversals_sum`, the sum of the reversal rows pointing at each:
 * the table is append-only, so what was reversed is never stored on the row itself.
 */
export function selectTransactions(trx: Trx, ctx: RequestContext) {
  return trx('customer_transactions as t')
    .where({ 't.tenant_id': ctx.tenantId })
    .select(
      't.*',
      trx.raw(
        `coalesce((select sum(r.amount) from customer_transactions r
                    where r.tenant_id = t.tenant_id and r.reverses_id = t.id), 0)::bigint as reversals_sum`,
      ),
    )
}

/** The customer's sub-ledger, newest first (the caller checks the actor may see the customer). */
export async function listCustomerTransactions(trx: Trx, ctx: RequestContext, customerIds: string[], q: ListQuery) {
  const { rows, has_more } = await paginate<CustomerTransactionRow>(selectTransactions(trx, ctx).whereIn('t.customer_id', customerIds), q, 't.id')
  return page(rows.map(transactionView), has_more)
}

/**
 * The customer's balance before `from` and its sub-ledger rows dated from..to (inclusive), in
 * posting-date order: what a statement shows.
 */
export async function customerLedgerRange(trx: Trx, ctx: RequestContext, customerId: string, from: string, to: string) {
  const { rows } = await trx.raw(
    `select coalesce(sum(amount), 0)::bigint as opening from customer_transactions
      where tenant_id = ? and customer_id = ? and posting_date < ?`,
    [ctx.tenantId, customerId, from],
  )
  const txns: CustomerTransactionRow[] = await selectTransactions(trx, ctx).where({ 't.customer_id': customerId })
    .whereBetween('t.posting_date', [from, to])
    .orderBy([{ column: 't.posting_date' }, { column: 't.id' }])
  return { opening_balance: rows[0].opening as number, transactions: txns.map(transactionView) }
}

/**
 * Sub-ledger lookups for documents and reversals. `customer_transactions` is append-only: what a
 * reversal undid is never stored on the row it reverses, it is the sum of the rows pointing at it.
 */

/** The document's own (non-reversal) sub-ledger row, e.g. the `invoice` row of an invoice. */
export async function documentTxn(trx: Trx, ctx: RequestContext, sourceId: string): Promise<CustomerTransactionRow | undefined> {
  return selectTransactions(trx, ctx).where({ 't.source_id': sourceId }).whereNot({ 't.type': 'reversal' }).orderBy('t.id').first()
}

/** Document id → the id of its own sub-ledger row, for lists. */
export async function documentTxnIds(trx: Trx, ctx: RequestContext, sourceIds: string[]): Promise<Map<string, string>> {
  if (!sourceIds.length) return new Map()
  const rows: { id: string; source_id: string }[] = await trx('customer_transactions')
    .where({ tenant_id: ctx.tenantId })
    .whereIn('source_id', sourceIds)
    .whereNot({ type: 'reversal' })
    .orderBy('id', 'desc')
    .select('id', 'source_id')
  return new Map(rows.map((r) => [r.source_id, r.id]))
}

/** One sub-ledger row with the sum of the reversals pointing at it (read it under the customer lock to rely on that sum). */
export async function getTxn(trx: Trx, ctx: RequestContext, id: string): Promise<CustomerTransactionRow> {
  const row = await selectTransactions(trx, ctx).where({ 't.id': id }).first()
  if (!row) throw notFound('transaction', id, 'id')
  return row
}

/** How much of a document's own sub-ledger row (of `type`) its reversals have undone (positive). */
export async function reversedOfDocument(trx: Trx, ctx: RequestContext, sourceId: string, type: string): Promise<number> {
  const { rows } = await trx.raw(
    `select coalesce(-sum(r.amount), 0)::bigint as n
       from customer_transactions t join customer_transactions r on r.tenant_id = t.tenant_id and r.reverses_id = t.id
      where t.tenant_id = ? and t.source_id = ? and t.type = ?`,
    [ctx.tenantId, sourceId, type],
  )
  return Number(rows[0].n)
}

/**
 * A sub-ledger row's journal entry (currency and rate) with the lines of that entry and of every
 * entry that has reversed part of it since: what is still open of it, line role by line role.
 */
export async function entryWithReversals(trx: Trx, ctx: RequestContext, txn: Pick<CustomerTransactionRow, 'id' | 'journal_entry_id'>) {
  const original: { currency: string; exchange_rate: string } = await trx('journal_entries').where({ tenant_id: ctx.tenantId, id: txn.journal_entry_id }).first('currency', 'exchange_rate')
  const priorEntries: string[] = await trx('customer_transactions').where({ tenant_id: ctx.tenantId, reverses_id: txn.id }).pluck('journal_entry_id')
  const lines: { role: LineRole; account_code: string; tx_debit: number; tx_credit: number; debit: number; credit: number }[] = await trx('journal_lines')
    .where({ tenant_id: ctx.tenantId })
    .whereIn('entry_id', [txn.journal_entry_id, ...priorEntries])
    .orderBy(['entry_id', 'line_no'])
    .select('role', 'account_code', 'tx_debit', 'tx_credit', 'debit', 'credit')
  return { original, lines }
}

// ---- journal ----------------------------------------------------------------------------------

interface JournalEntryRow {
  id: string
  entry_date: string
  event: string
  source_type: string
  source_id: string
  currency: string
  exchange_rate: string
  memo: string | null
  reverses_entry_id: string | null
  created_by: string | null
  created_at: Date
}

interface JournalLineRow {
  entry_id: string
  line_no: number
  account_code: string
  role: string
  customer_id: string | null
  currency: string
  debit: number
  credit: number
  tx_debit: number
  tx_credit: number
}

function journalEntryView(e: JournalEntryRow, lines: JournalLineRow[]) {
  return {
    id: e.id,
    object: 'journal_entry' as const,
    entry_date: e.entry_date,
    event: e.event,
    source: e.source_id,
    source_type: e.source_type,
    currency: e.currency,
    exchange_rate: normalizeDecimal(e.exchange_rate, 'exchange_rate'),
    memo: e.memo,
    reverses: e.reverses_entry_id,
    created_by: e.created_by,
    created: e.created_at.toISOString(),
    lines: lines.map((l) => ({
      line_no: l.line_no,
      account: l.account_code,
      role: l.role,
      customer: l.customer_id,
      currency: l.currency,
      debit: l.debit,
      credit: l.credit,
      tx_debit: l.tx_debit,
      tx_credit: l.tx_credit,
    })),
  }
}

async function withLines(trx: Trx, ctx: RequestContext, entries: JournalEntryRow[]) {
  const lines: JournalLineRow[] = entries.length
    ? await trx('journal_lines').where({ tenant_id: ctx.tenantId }).whereIn('entry_id', entries.map((e) => e.id)).orderBy(['entry_id', 'line_no'])
    : []
  const byEntry = new Map<string, JournalLineRow[]>()
  for (const l of lines) byEntry.set(l.entry_id, [...(byEntry.get(l.entry_id) ?? []), l])
  return entries.map((e) => journalEntryView(e, byEntry.get(e.id) ?? []))
}

export async function listJournalEntries(trx: Trx, ctx: RequestContext, q: ListQuery & { source?: string }) {
  const query = trx('journal_entries').where({ tenant_id: ctx.tenantId })
  if (q.source) query.andWhere({ source_id: q.source })
  const { rows, has_more } = await paginate<JournalEntryRow>(query, q)
  return page(await withLines(trx, ctx, rows), has_more)
}

export async function getJournalEntry(trx: Trx, ctx: RequestContext, id: string) {
  const row: JournalEntryRow | undefined = await trx('journal_entries').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('journal entry', id, 'id')
  return (await withLines(trx, ctx, [row]))[0]
}

// ---- accounts and trial balance ---------------------------------------------------------------

/** The tenant's accounts (every chart it has enabled), flagged when they belong to the active one. */
export async function listAccounts(trx: Trx, ctx: RequestContext) {
  const rows: { code: string; name: string; type: string; plugin: string; active: boolean }[] = await trx('accounts as a')
    .where('a.tenant_id', ctx.tenantId)
    .select(
      'a.code', 'a.name', 'a.type', 'a.plugin',
      trx.raw(`exists (select 1 from tenant_plugins p where p.tenant_id = a.tenant_id and p.name = a.plugin
                        and p.kind = 'chart-of-accounts' and p.enabled) as active`),
    )
    .orderBy('a.code')
  return page(
    rows.map((a) => ({ id: a.code, object: 'account' as const, code: a.code, name: a.name, type: a.type, plugin: a.plugin, active: a.active })),
    false,
  )
}

/**
 * Trial balance as of a date (default: the tenant's today), aggregated from journal lines dated on
 * or before it: per account in base currency, and per transaction currency.
 */
export async function trialBalance(trx: Trx, ctx: RequestContext, q: { as_of?: string }) {
  const lc = await ledgerContext(trx, ctx)
  const asOf = q.as_of ?? lc.today
  // Sums over every customer can pass 2^53: they travel as text and add up as BigInt.
  const { rows } = await trx.raw(
    `select l.account_code, l.currency, grouping(l.currency) = 1 as base,
            sum(l.debit)::text as debit, sum(l.credit)::text as credit,
            sum(l.tx_debit)::text as tx_debit, sum(l.tx_credit)::text as tx_credit
       from journal_lines l
      where l.tenant_id = ? and l.entry_date <= ?
      group by grouping sets ((l.account_code), (l.currency, l.account_code))
      order by l.currency nulls first, l.account_code`,
    [ctx.tenantId, asOf],
  )
  const accounts: { code: string; name: string; type: string }[] = await trx('accounts').where({ tenant_id: ctx.tenantId }).select('code', 'name', 'type')
  const byCode = new Map(accounts.map((a) => [a.code, a]))

  type Sums = { account_code: string; currency: string | null; base: boolean; debit: string; credit: string; tx_debit: string; tx_credit: string }
  const all = rows as Sums[]
  let debit = 0n
  let credit = 0n
  const lines = all
    .filter((r) => r.base)
    .map((r) => {
      const [d, c] = [BigInt(r.debit), BigInt(r.credit)]
      debit += d
      credit += c
      return {
        account: r.account_code,
        name: byCode.get(r.account_code)?.name ?? null,
        type: byCode.get(r.account_code)?.type ?? null,
        debit: exactAmount(d),
        credit: exactAmount(c),
        balance: exactAmount(d - c),
      }
    })
  const byCurrency = new Map<string, { currency: string; accounts: { account: string; tx_debit: number | string; tx_credit: number | string }[]; debit: bigint; credit: bigint }>()
  for (const r of all.filter((r) => !r.base)) {
    let c = byCurrency.get(r.currency!)
    if (!c) byCurrency.set(r.currency!, (c = { currency: r.currency!, accounts: [], debit: 0n, credit: 0n }))
    c.accounts.push({ account: r.account_code, tx_debit: exactAmount(BigInt(r.tx_debit)), tx_credit: exactAmount(BigInt(r.tx_credit)) })
    c.debit += BigInt(r.tx_debit)
    c.credit += BigInt(r.tx_credit)
  }
  const currencies = [...byCurrency.values()].map(({ debit: d, credit: c, ...rest }) => ({
    ...rest,
    total_tx_debit: exactAmount(d),
    total_tx_credit: exactAmount(c),
    balanced: d === c,
  }))
  return {
    object: 'trial_balance' as const,
    as_of: asOf,
    currency: lc.base_currency,
    accounts: lines,
    totals: { debit: exactAmount(debit), credit: exactAmount(credit) },
    by_currency: currencies,
    balanced: debit === credit && currencies.every((c) => c.balanced),
  }
}

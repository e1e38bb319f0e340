import type { Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { AppError, notFound } from '../errors'
import { newId } from '../ids'
import { normalizeDecimal } from '../money'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../events/outbox'
import { paginate, page, ListQuery } from '../http/pagination'
import { assertSourceLive, changeUnapplied, CreditSource, CreditSourceType, lockCreditSource } from '../allocations/service'
import { assertCustomerUsable, changeBalance, CustomerState, documentRate, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import type { CreateRefundInput } from './schemas'

export interface RefundRow {
  id: string
  customer_id: string
  amount: number
  currency: string
  exchange_rate: string
  source_type: CreditSourceType | null
  source_id: string | null
  method: string
  reason: string
  refund_date: string
  journal_entry_id: string
  created_at: Date
}

export interface RefundPart {
  source: string
  source_type: CreditSourceType
  amount: number
}

export function refundView(r: RefundRow, sources: RefundPart[]) {
  return {
    id: r.id,
    object: 'refund' as const,
    customer: r.customer_id,
    amount: r.amount,
    currency: r.currency,
    exchange_rate: normalizeDecimal(r.exchange_rate, 'exchange_rate'),
    source: r.source_id,
    source_type: r.source_type,
    sources,
    method: r.method,
    reason: r.reason,
    refund_date: r.refund_date,
    journal_entry: r.journal_entry_id,
    created: r.created_at.toISOString(),
  }
}

/** Most sources one refund draws from when none is named. */
const MAX_REFUND_SOURCES = 100

/**
 * The credit a refund draws: all from the named source, else the customer's oldest unapplied
 * payments and credit notes first. Read under the customer lock, which every change to them holds.
 */
async function drawCredit(trx: Trx, ctx: RequestContext, customer: CustomerState, sourceId: string | undefined, amount: number) {
  if (sourceId) {
    const source = await lockCreditSource(trx, ctx, customer.id, sourceId)
    assertSourceLive(source)
    if (amount > source.unapplied_amount) {
      throw new AppError('refund_exceeds_credit', `The refund exceeds ${source.id}'s unapplied amount ${source.unapplied_amount}.`, { param: 'amount' })
    }
    return [{ source, amount }]
  }
  if (amount > customer.advance_balance) {
    throw new AppError('refund_exceeds_credit', `The refund exceeds the customer's unapplied credit ${customer.advance_balance}.`, { param: 'amount' })
  }
  const { rows } = await trx.raw(
    `select id from (
       select id, created_at from payments where tenant_id = :t and customer_id = :c and status <> 'voided' and unapplied_amount > 0
       union all
       select id, created_at from credit_notes where tenant_id = :t and customer_id = :c and status <> 'voided' and unapplied_amount > 0
     ) s order by created_at, id limit :n`,
    { t: ctx.tenantId, c: customer.id, n: MAX_REFUND_SOURCES },
  )
  const parts: { source: CreditSource; amount: number }[] = []
  let left = amount
  for (const { id } of rows as { id: string }[]) {
    if (left === 0) break
    const source = await lockCreditSource(trx, ctx, customer.id, id)
    const take = Math.min(left, source.unapplied_amount)
    parts.push({ source, amount: take })
    left -= take
  }
  if (left > 0) throw new AppError('refund_exceeds_credit', 'The refund exceeds the unapplied credit of the customer\'s payments and credit notes.', { param: 'amount' })
  return parts
}

/**
 * Pays unapplied credit back: Dr advances / Cr cash (by method). The credit comes off the sources'
 * unapplied amounts (recorded per source); a named source's rate applies unless another is given.
 */
export async function createRefund(trx: Trx, ctx: RequestContext, input: CreateRefundInput) {
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, input.customer)
  assertCustomerUsable(customer)
  const parts = await drawCredit(trx, ctx, customer, input.source, input.amount)
  const named = input.source ? parts[0].source : null
  const givenRate = input.exchange_rate === undefined ? undefined : String(input.exchange_rate)
  const rate = named && givenRate === undefined ? named.exchange_rate : documentRate(customer.currency, lc.base_currency, givenRate)
  const refundDate = input.refund_date ?? lc.today

  const id = newId('ref')
  const entryId = await postEntry(trx, ctx, {
    event: 'refund',
    source_type: 'refund',
    source_id: id,
    entry_date: refundDate,
    currency: customer.currency,
    base_currency: lc.base_currency,
    exchange_rate: rate,
    method: input.method,
    memo: input.reason,
    lines: [
      { role: 'advances', side: 'debit', amount: input.amount, customer_id: customer.id },
      { role: 'cash', side: 'credit', amount: input.amount },
    ],
  })
  const [row] = await trx('refunds')
    .insert({
      tenant_id: ctx.tenantId,
      id,
      customer_id: customer.id,
      amount: input.amount,
      currency: customer.currency,
      exchange_rate: rate,
      source_type: named?.type ?? null,
      source_id: named?.id ?? null,
      method: input.method,
      reason: input.reason,
      refund_date: refundDate,
      journal_entry_id: entryId,
      created_by: ctx.keyId ?? ctx.role,
    })
    .returning('*')
  const sources = parts.map((p) => ({ source: p.source.id, source_type: p.source.type, amount: p.amount }))
  await trx('refund_sources').insert(sources.map((p, i) => ({ tenant_id: ctx.tenantId, refund_id: id, line_no: i + 1, source_type: p.source_type, source_id: p.source, amount: p.amount })))
  for (const p of parts) await changeUnapplied(trx, ctx, p.source, -p.amount)
  await changeBalance(trx, ctx, customer, {
    pending: 0,
    advance: -input.amount,
    insufficientCredit: { code: 'refund_exceeds_credit', message: `The refund exceeds the customer's unapplied credit ${customer.advance_balance}.`, param: 'amount' },
    txn: { type: 'refund', reference: id, source_type: 'refund', source_id: id, posting_date: refundDate, journal_entry_id: entryId, reason: input.reason },
  })
  const view = refundView(row, sources)
  await recordAudit(trx, ctx, { action: 'refund.created', entity_type: 'refund', entity_id: id, after: { customer: customer.id, amount: input.amount, sources }, reason: input.reason })
  await emitEvent(trx, ctx, 'refund.created', view)
  return view
}

/**
 * For a refund's reversal (core/reversals): gives `amount` of credit back to the refund's sources in
 * the order it was drawn, after what earlier reversals gave back (`alreadyRestored`; by default the
 * refund's reversal rows already in the sub-ledger, so call it before writing this reversal's row).
 * The customer must be locked; a voided source takes nothing back (invalid_state).
 */
export async function restoreRefundSources(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  refundId: string,
  amount: number,
  alreadyRestored?: number,
): Promise<void> {
  const parts = (await partsOf(trx, ctx, [refundId])).get(refundId)!
  let skip = alreadyRestored ?? (await refundReversed(trx, ctx, refundId))
  let left = amount
  for (const p of parts) {
    const give = Math.min(left, Math.max(0, p.amount - skip))
    skip = Math.max(0, skip - p.amount)
    if (give === 0) continue
    const source = await lockCreditSource(trx, ctx, customer.id, p.source)
    assertSourceLive(source)
    await changeUnapplied(trx, ctx, source, give)
    left -= give
  }
  if (left > 0) throw new Error(`refund ${refundId}: ${left} more restored than was drawn`)
}

async function refundReversed(trx: Trx, ctx: RequestContext, refundId: string): Promise<number> {
  const { rows } = await trx.raw(
    `select coalesce(-sum(r.amount), 0)::bigint as n
       from customer_transactions t join customer_transactions r on r.tenant_id = t.tenant_id and r.reverses_id = t.id
      where t.tenant_id = ? and t.source_id = ? and t.type = 'refund'`,
    [ctx.tenantId, refundId],
  )
  return Number(rows[0].n)
}

async function partsOf(trx: Trx, ctx: RequestContext, refundIds: string[]): Promise<Map<string, RefundPart[]>> {
  const rows: { refund_id: string; source_id: string; source_type: CreditSourceType; amount: number }[] = refundIds.length
    ? await trx('refund_sources').where({ tenant_id: ctx.tenantId }).whereIn('refund_id', refundIds).orderBy(['refund_id', 'line_no'])
    : []
  const out = new Map<string, RefundPart[]>(refundIds.map((id) => [id, []]))
  for (const r of rows) out.get(r.refund_id)!.push({ source: r.source_id, source_type: r.source_type, amount: r.amount })
  return out
}

export async function getRefund(trx: Trx, ctx: RequestContext, id: string) {
  const row = await trx('refunds').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('refund', id)
  return refundView(row, (await partsOf(trx, ctx, [id])).get(id)!)
}

export async function listRefunds(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('refunds').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  const { rows, has_more } = await paginate<RefundRow>(query, q)
  const parts = await partsOf(trx, ctx, rows.map((r) => r.id))
  return page(rows.map((r) => refundView(r, parts.get(r.id)!)), has_more)
}

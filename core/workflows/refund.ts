import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCustomerUsable, CustomerState, documentRate, LedgerContext, paymentMethodOf, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { reversedOfDocument } from '../ledger/reads'
import { planRefundRow, refundParts, refundView } from '../refunds/model'
import type { CreateRefundInput } from '../refunds/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { assertSourceLive, CreditSource, planUnapplied, sourcesWithCredit } from './steps/credit-sources'
import { holdCreditSource } from './steps/locks'

/**
 * Workflow: pay unapplied credit back (Dr advances / Cr cash), drawn from a named source or from
 * the customer's oldest payments and credit notes; and, for a refund's reversal, give the credit
 * back to those sources. POST /v1/refunds requests of a tenant are planned together.
 */

/** Most sources one refund draws from when none is named. */
const MAX_REFUND_SOURCES = 100

/**
 * The credit a refund draws: all from the named source, else the customer's oldest unapplied
 * payments and credit notes first, as the plan holds them. Read under the customer lock, which
 * every change to them holds.
 */
async function drawCredit(trx: Trx, plan: Plan, ctx: RequestContext, customer: CustomerState, sourceId: string | undefined, amount: number) {
  if (sourceId) {
    const source = await holdCreditSource(trx, plan, ctx, customer.id, sourceId)
    assertSourceLive(source)
    if (amount > source.unapplied_amount) {
      throw new AppError('refund_exceeds_credit', `The refund exceeds ${source.id}'s unapplied amount ${source.unapplied_amount}.`, { param: 'amount' })
    }
    return [{ source, amount }]
  }
  if (amount > customer.advance_balance) {
    throw new AppError('refund_exceeds_credit', `The refund exceeds the customer's unapplied credit ${customer.advance_balance}.`, { param: 'amount' })
  }
  const drawnInPlan = plan.heldAll<CreditSource>('credit_source').filter((c) => c.customer_id === customer.id && c.unapplied_amount === 0).length
  const parts: { source: CreditSource; amount: number }[] = []
  let left = amount
  for (const id of await sourcesWithCredit(trx, ctx, customer.id, MAX_REFUND_SOURCES + drawnInPlan)) {
    if (left === 0 || parts.length === MAX_REFUND_SOURCES) break
    const source = await holdCreditSource(trx, plan, ctx, customer.id, id)
    if (source.unapplied_amount === 0) continue
    const take = Math.min(left, source.unapplied_amount)
    parts.push({ source, amount: take })
    left -= take
  }
  if (left > 0) throw new AppError('refund_exceeds_credit', 'The refund exceeds the unapplied credit of the customer\'s payments and credit notes.', { param: 'amount' })
  return parts
}

/**
 * Plans a refund of the held customer: the credit comes off the sources' unapplied amounts
 * (recorded per source); a named source's rate applies unless another is given.
 */
export async function planRefund(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, input: CreateRefundInput) {
  assertCustomerUsable(customer)
  await paymentMethodOf(trx, ctx, lc, input.method)
  const parts = await drawCredit(trx, plan, ctx, customer, input.source, input.amount)
  const named = input.source ? parts[0].source : null
  const givenRate = input.exchange_rate === undefined ? undefined : String(input.exchange_rate)
  const rate = named && givenRate === undefined ? named.exchange_rate : documentRate(customer.currency, lc.base_currency, givenRate)
  const refundDate = input.refund_date ?? lc.today

  const id = newId('ref')
  const entry = await plan.post(trx, ctx, {
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
  const staged = stageBalanceChange(ctx, customer, {
    pending: 0,
    advance: -input.amount,
    insufficientCredit: { code: 'refund_exceeds_credit', message: `The refund exceeds the customer's unapplied credit ${customer.advance_balance}.`, param: 'amount' },
    txn: { type: 'refund', reference: id, source_type: 'refund', source_id: id, posting_date: refundDate, journal_entry_id: entry.id, reason: input.reason },
  })
  const sources = parts.map((p) => ({ source: p.source.id, source_type: p.source.type, amount: p.amount }))
  const row = planRefundRow(
    plan,
    ctx,
    {
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
      journal_entry_id: entry.id,
    },
    sources,
    customer.locked_at,
  )
  for (const p of parts) planUnapplied(plan, p.source, -p.amount)
  plan.balance(staged)
  const view = refundView(row, sources)
  plan.audit(ctx, { action: 'refund.created', entity_type: 'refund', entity_id: id, after: { customer: customer.id, amount: input.amount, sources }, reason: input.reason })
  plan.event(ctx, 'refund.created', view)
  return view
}

/** POST /v1/refunds, batched (core/http/batch.ts). */
export function createRefunds(trx: Trx, items: BatchItem<CreateRefundInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planRefund(trx, plan, ctx, lc, customer, input),
  })
}

/**
 * For a refund's reversal: plans giving `amount` of credit back to the refund's sources in the order
 * it was drawn, after what earlier reversals gave back (`alreadyRestored`; by default the refund's
 * reversal rows already in the sub-ledger). The customer must be held; a voided source takes
 * nothing back (invalid_state).
 */
export async function planRestoreRefundSources(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  customer: CustomerState,
  refundId: string,
  amount: number,
  alreadyRestored?: number,
): Promise<void> {
  const parts = (await refundParts(trx, ctx, [refundId])).get(refundId)!
  let skip = alreadyRestored ?? (await reversedOfDocument(trx, ctx, refundId, 'refund'))
  let left = amount
  for (const p of parts) {
    const give = Math.min(left, Math.max(0, p.amount - skip))
    skip = Math.max(0, skip - p.amount)
    if (give === 0) continue
    const source = await holdCreditSource(trx, plan, ctx, customer.id, p.source)
    assertSourceLive(source)
    planUnapplied(plan, source, give)
    left -= give
  }
  if (left > 0) throw new Error(`refund ${refundId}: ${left} more restored than was drawn`)
}

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { toBaseAmount } from '../kernel/money'
import { assertCustomerUsable, ledgerContext, paymentMethodOf, stageBalanceChange, type CustomerState, type LedgerContext } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow, type PaymentRow } from '../payments/model'
import {
  chargedBack,
  getDispute,
  getDisputeRow,
  lockDispute,
  markSubmitted,
  setDisputeRefund,
  planDisputeResolved,
  planDisputeRow,
  type DisputeRow,
  type DisputeView,
  type Reopened,
} from '../disputes/model'
import type { CreateDisputeInput, DisputeStatus, ResolveDisputeInput } from '../disputes/schemas'
import type { CreateRefundInput } from '../refunds/schemas'
import { planUnapplied } from './steps/credit-sources'
import { holdAllocation, holdCreditSource, holdCustomer, holdInvoices, liveAllocations } from './steps/locks'
import { planUnapply } from './unapply'
import { planApplyCredit } from './apply-credit'
import { planCreditNote } from './credit-note'
import { createRefunds } from './refund'
import { approvalNeeded, requestApproval } from './approvals'

/**
 * Workflow: disputes and chargebacks (API.md "Disputes and chargebacks", ARCHITECTURE §6–7).
 *
 * A chargeback posts when it is opened: the card network took the payment's money back, so what the
 * payment settled is owed again. Its live allocations are un-applied newest first until the amount
 * is covered (the last one only in part: un-applied whole and the rest applied again, so history is
 * never rewritten), then the entry Dr customer advances / Cr cash (by the payment's method) takes
 * the amount out of the payment's unapplied credit. The customer's balance rises by the amount.
 *
 * A won chargeback posts the mirror (Dr cash / Cr advances: the money is back) and applies it again
 * to the invoices the chargeback reopened, as far as they are still outstanding; the rest stays as
 * unapplied credit. A lost one changes nothing. An accepted refund request or billing error issues
 * a credit note of the amount (against the named invoice, else as unapplied credit); a refund
 * request also refunds it, through the approval rules. Lock: customer → dispute → documents.
 */

const DECIDED: ReadonlySet<DisputeStatus> = new Set(['won', 'lost', 'accepted', 'rejected'])

/**
 * Plans the chargeback of `amount` of the held customer's payment: reopens what it settled, newest
 * allocation first, and posts the cash going back out. Refused (nothing planned survives: the
 * caller's plan is dropped) when the payment no longer holds the amount.
 */
async function planChargeback(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  pay: PaymentRow,
  dispute: { id: string; amount: number; reason: string },
): Promise<{ entryId: string; reopened: Reopened[] }> {
  const source = await holdCreditSource(trx, plan, ctx, customer.id, pay.id, 'payment')
  if (source.status === 'voided') throw new AppError('invalid_state', `Payment ${pay.id} is voided: there is nothing to charge back.`, { param: 'payment' })
  const reason = `Chargeback ${dispute.id}`
  let need = dispute.amount - source.unapplied_amount
  const reopened: Reopened[] = []
  if (need > 0) {
    // Allocation ids sort by creation time: newest first.
    const ids = (await liveAllocations(trx, plan, ctx, { source_id: pay.id })).sort().reverse()
    for (const id of ids) {
      if (need <= 0) break
      const alc = await holdAllocation(trx, plan, ctx, customer.id, id)
      const take = Math.min(alc.amount, need)
      await planUnapply(trx, plan, ctx, lc, customer, id, { reason, posting_date: lc.today })
      if (alc.amount > take) await planApplyCredit(trx, plan, ctx, lc, customer, { source: pay.id, invoice: alc.invoice_id, amount: alc.amount - take })
      reopened.push({ invoice: alc.invoice_id, amount: take })
      need -= take
    }
  }
  if (need > 0) {
    throw new AppError('dispute_exceeds_amount', `Payment ${pay.id} holds ${dispute.amount - need} (its refunds are gone already); a chargeback of ${dispute.amount} exceeds it.`, {
      param: 'amount',
      details: { available: dispute.amount - need },
    })
  }
  const entry = await plan.post(trx, ctx, {
    event: 'chargeback',
    source_type: 'dispute',
    source_id: dispute.id,
    entry_date: lc.today,
    currency: source.currency,
    base_currency: lc.base_currency,
    exchange_rate: source.exchange_rate,
    method: pay.method,
    memo: dispute.reason,
    lines: [
      { role: 'advances', side: 'debit', amount: dispute.amount, customer_id: customer.id },
      { role: 'cash', side: 'credit', amount: dispute.amount },
    ],
  })
  plan.balance(
    stageBalanceChange(ctx, customer, {
      pending: 0,
      advance: -dispute.amount,
      txn: { type: 'chargeback', reference: dispute.id, source_type: 'dispute', source_id: dispute.id, posting_date: lc.today, journal_entry_id: entry.id, reason: dispute.reason },
    }),
  )
  planUnapplied(plan, source, -dispute.amount)
  return { entryId: entry.id, reopened }
}

/** Plans a won chargeback: the cash is back, and settles again what the chargeback reopened. */
async function planChargebackWon(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, d: DisputeRow, resolution: string): Promise<string> {
  const source = await holdCreditSource(trx, plan, ctx, customer.id, d.payment_id!, 'id')
  if (source.status === 'voided') throw new AppError('invalid_state', `Payment ${source.id} was voided since the chargeback; its reversal cannot be posted.`, { param: 'id' })
  const amount = Number(d.amount)
  const entry = await plan.post(trx, ctx, {
    event: 'chargeback_reversal',
    source_type: 'dispute',
    source_id: d.id,
    entry_date: lc.today,
    currency: source.currency,
    base_currency: lc.base_currency,
    exchange_rate: source.exchange_rate,
    method: (await getPaymentRow(trx, ctx, source.id)).method,
    memo: resolution,
    reverses_entry_id: d.chargeback_entry_id ?? undefined,
    lines: [
      { role: 'cash', side: 'debit', amount },
      { role: 'advances', side: 'credit', amount, customer_id: customer.id },
    ],
  })
  plan.balance(
    stageBalanceChange(ctx, customer, {
      pending: 0,
      advance: amount,
      txn: { type: 'chargeback_reversal', reference: d.id, source_type: 'dispute', source_id: d.id, posting_date: lc.today, journal_entry_id: entry.id, reason: resolution },
    }),
  )
  planUnapplied(plan, source, amount)
  for (const r of d.reopened) {
    const inv = (await holdInvoices(trx, plan, ctx, [r.invoice], customer.id)).get(r.invoice)!
    const again = Math.min(r.amount, inv.outstanding, source.unapplied_amount)
    if (inv.status !== 'void' && again > 0) await planApplyCredit(trx, plan, ctx, lc, customer, { source: source.id, invoice: inv.id, amount: again })
  }
  return entry.id
}

/** POST /v1/disputes: opens a dispute; a chargeback posts at once. */
export async function openDispute(trx: Trx, ctx: RequestContext, input: CreateDisputeInput): Promise<DisputeView> {
  if (input.type === 'chargeback' && !input.payment) throw new AppError('validation_failed', 'A chargeback names the payment that was charged back.', { param: 'payment' })
  if (input.payment && input.invoice) throw new AppError('validation_failed', 'Name a payment or an invoice, not both.', { param: 'invoice' })
  if (!input.payment && !input.invoice) throw new AppError('validation_failed', 'A dispute names the payment or the invoice it is about.', { param: 'payment' })
  const pay = input.payment ? await getPaymentRow(trx, ctx, input.payment, 'payment') : null
  const inv = input.invoice ? await getInvoiceRow(trx, ctx, input.invoice, 'invoice') : null
  const doc = (pay ?? inv)!

  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const customer = await holdCustomer(trx, plan, ctx, doc.customer_id, input.payment ? 'payment' : 'invoice')
  assertCustomerUsable(customer)
  const ceiling = pay ? Number(pay.amount) - (input.type === 'chargeback' ? await chargedBack(trx, ctx, pay.id) : 0) : Number(inv!.total)
  if (input.amount > ceiling) {
    const what = pay ? `payment ${pay.id}` : `invoice ${inv!.id}`
    throw new AppError('dispute_exceeds_amount', `The amount exceeds what ${what} can be disputed for (${ceiling}).`, { param: 'amount', details: { available: ceiling } })
  }
  if (pay?.status === 'voided') throw new AppError('invalid_state', `Payment ${pay.id} is voided.`, { param: 'payment' })
  if (inv?.status === 'void') throw new AppError('invalid_state', `Invoice ${inv.id} is void.`, { param: 'invoice' })

  const id = newId('dsp')
  const charged = input.type === 'chargeback' ? await planChargeback(trx, plan, ctx, lc, customer, pay!, { id, amount: input.amount, reason: input.reason }) : null
  planDisputeRow(plan, ctx, {
    id,
    customer_id: customer.id,
    type: input.type,
    payment_id: pay?.id ?? null,
    invoice_id: inv?.id ?? null,
    currency: doc.currency,
    amount: input.amount,
    base_amount: toBaseAmount(input.amount, doc.currency, lc.base_currency, doc.exchange_rate),
    reason: input.reason,
    reference: input.reference ?? null,
    chargeback_entry_id: charged?.entryId ?? null,
    reopened: charged?.reopened ?? [],
  })
  plan.audit(ctx, {
    action: 'dispute.created',
    entity_type: 'dispute',
    entity_id: id,
    after: { customer: customer.id, type: input.type, payment: pay?.id ?? null, invoice: inv?.id ?? null, amount: input.amount, journal_entry: charged?.entryId ?? null, reopened: charged?.reopened ?? [] },
    reason: input.reason,
  })
  plan.announce(ctx, 'dispute.created', () => getDispute(trx, ctx, id))
  await plan.write(trx)
  return getDispute(trx, ctx, id)
}

/** The dispute under its lock, after its customer's (the posting order), if still undecided. */
async function holdOpenDispute(trx: Trx, plan: Plan, ctx: RequestContext, id: string): Promise<{ customer: CustomerState; d: DisputeRow }> {
  const seen = await getDisputeRow(trx, ctx, id)
  const customer = await holdCustomer(trx, plan, ctx, seen.customer_id, 'id')
  const d = await lockDispute(trx, ctx, id)
  if (DECIDED.has(d.status)) throw new AppError('dispute_closed', `Dispute ${id} is ${d.status}.`, { param: 'id', details: { status: d.status } })
  return { customer, d }
}

/** POST /v1/disputes/:id/submit: the evidence goes to review (open → under_review). */
export async function submitDispute(trx: Trx, ctx: RequestContext, id: string): Promise<DisputeView> {
  const { d } = await holdOpenDispute(trx, new Plan(ctx.tenantId), ctx, id)
  if (d.status !== 'open') throw new AppError('dispute_closed', `Dispute ${id} is already ${d.status}.`, { param: 'id', details: { status: d.status } })
  await markSubmitted(trx, ctx, id)
  await recordAudit(trx, ctx, { action: 'dispute.submitted', entity_type: 'dispute', entity_id: id, before: { status: d.status }, after: { status: 'under_review' } })
  const view = await getDispute(trx, ctx, id)
  await emitEvent(trx, ctx, 'dispute.submitted', view)
  return view
}

/** POST /v1/disputes/:id/resolve: decides the dispute once and posts what the outcome means. */
/**
 * The method an accepted refund request is refunded by: `refund_method` when given, else the
 * disputed payment's (bank_transfer when the dispute names no payment). It must be one of the
 * tenant's payment methods now: a payment's method the tenant removed since is refused with a
 * message that asks for `refund_method`, before anything is written. Null when nothing is refunded;
 * `refund_method` is refused on any other resolution.
 */
async function refundMethodFor(trx: Trx, ctx: RequestContext, lc: LedgerContext, d: DisputeRow, input: ResolveDisputeInput): Promise<string | null> {
  const refunds = d.type === 'refund_request' && input.outcome === 'accepted'
  if (!refunds) {
    if (input.refund_method !== undefined) throw new AppError('validation_failed', 'refund_method applies only to an accepted refund request.', { param: 'refund_method' })
    return null
  }
  if (input.refund_method !== undefined) return (await paymentMethodOf(trx, ctx, lc, input.refund_method, 'refund_method')).code
  const method = d.payment_id ? (await getPaymentRow(trx, ctx, d.payment_id)).method : 'bank_transfer'
  try {
    return (await paymentMethodOf(trx, ctx, lc, method, 'refund_method')).code
  } catch (err) {
    if (!(err instanceof AppError && err.code === 'payment_method_unknown')) throw err
    throw new AppError('payment_method_unknown', `The refund would go out by '${method}', the disputed payment's method, which is no longer one of the tenant's payment methods: give refund_method. ${err.message}`, {
      param: 'refund_method',
    })
  }
}

export async function resolveDispute(trx: Trx, ctx: RequestContext, id: string, input: ResolveDisputeInput): Promise<DisputeView> {
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const { customer, d } = await holdOpenDispute(trx, plan, ctx, id)
  const chargeback = d.type === 'chargeback'
  const allowed = chargeback ? ['won', 'lost'] : ['accepted', 'rejected']
  if (!allowed.includes(input.outcome)) {
    throw new AppError('validation_failed', `A ${d.type} dispute is resolved as ${allowed.join(' or ')}.`, { param: 'outcome' })
  }
  const refundMethod = await refundMethodFor(trx, ctx, lc, d, input)
  let outcomeEntry: string | null = null
  let creditNote: string | null = null
  if (chargeback && input.outcome === 'won') outcomeEntry = await planChargebackWon(trx, plan, ctx, lc, customer, d, input.resolution)
  if (input.outcome === 'accepted') {
    const cn = await planCreditNote(trx, plan, ctx, lc, customer, {
      customer: customer.id,
      invoice: d.invoice_id ?? undefined,
      amount: Number(d.amount),
      reason: `Dispute ${d.id} accepted: ${input.resolution}`.slice(0, 500),
    })
    outcomeEntry = cn.journal_entry
    creditNote = cn.id
  }
  planDisputeResolved(plan, ctx, id, { status: input.outcome, resolution: input.resolution, outcome_entry_id: outcomeEntry }, customer.locked_at)
  plan.audit(ctx, {
    action: 'dispute.resolved',
    entity_type: 'dispute',
    entity_id: id,
    before: { status: d.status },
    after: { status: input.outcome, journal_entry: outcomeEntry, credit_note: creditNote },
    reason: input.resolution,
  })
  plan.announce(ctx, 'dispute.resolved', () => getDispute(trx, ctx, id))
  await plan.write(trx)

  // An accepted refund request pays the credit back: a refund of the credit note, or, over the
  // tenant's refund threshold, an approval request for it (answered in the dispute's event trail).
  if (refundMethod && creditNote) {
    const refund: CreateRefundInput = { customer: customer.id, amount: Number(d.amount), source: creditNote, method: refundMethod, reason: `Dispute ${d.id} accepted` }
    const payload = { body: { ...refund } as Record<string, unknown> }
    let made: string
    if (await approvalNeeded(trx, ctx, 'refund.create', payload)) made = (await requestApproval(trx, ctx, 'refund.create', payload)).id
    else {
      const [out] = await createRefunds(trx, [{ ctx, input: refund }])
      if (out instanceof AppError) throw out
      made = out.id
    }
    await setDisputeRefund(trx, ctx, id, made)
  }
  return getDispute(trx, ctx, id)
}

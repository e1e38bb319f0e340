import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCurrency } from '../kernel/money'
import { assertCustomerUsable, CustomerState, documentRate, LedgerContext, paymentMethodOf, ProposedLine, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { openInvoicesOldestFirst, type InvoiceRow } from '../invoices/model'
import { paymentView, planPaymentRow } from '../payments/model'
import { CreatePaymentInput, MAX_PAYMENT_ALLOCATIONS } from '../payments/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { claimExternalId } from './steps/external-id'
import { documentRef } from '../kernel/metadata'
import { holdInvoices } from './steps/locks'
import { assertSettles, planAllocations, planBaseShares, type Settlement } from './steps/settle'
import { planWriteOff } from './write-off'

/**
 * Workflow: record a payment. Lock the customer, then the invoices it settles (explicit or
 * auto-applied, id order); plan: check every allocation and the write-off, build the entry (Dr cash;
 * Cr ar per settled invoice at its AR base share, any rate difference as realized FX; Cr advances
 * for the rest), the payment, its allocations and the write-off of a short payment; one write.
 * POST /v1/payments requests of a tenant are planned together (createPayments).
 */

/** Rules on the request's shape alone, checked before anything is read. */
function assertAllocationShape(input: CreatePaymentInput): void {
  if (input.allocations && input.auto_apply) {
    throw new AppError('validation_failed', 'Give allocations or auto_apply, not both.', { param: 'auto_apply' })
  }
  const seen = new Set<string>()
  input.allocations?.forEach((a, i) => {
    if (seen.has(a.invoice)) throw new AppError('validation_failed', `Invoice ${a.invoice} is allocated twice.`, { param: `allocations.${i}.invoice` })
    seen.add(a.invoice)
  })
  if (input.write_off && input.allocations?.length !== 1) {
    throw new AppError('validation_failed', 'A write_off needs exactly one explicit allocation: the invoice it settles.', { param: 'write_off' })
  }
}

/**
 * Auto-apply: the oldest open invoices (due date, then issue date, then id) until the amount runs
 * out, as the plan holds them (an earlier payment of the batch may have paid some). Read under the
 * customer lock, which every change to the customer's invoices holds.
 */
async function autoApply(trx: Trx, plan: Plan, ctx: RequestContext, customerId: string, amount: number) {
  const paidInPlan = plan.heldAll<InvoiceRow>('invoice').filter((i) => i.customer_id === customerId && i.outstanding === 0).length
  const open = await openInvoicesOldestFirst(trx, ctx, customerId, MAX_PAYMENT_ALLOCATIONS + paidInPlan)
  const wanted: { invoice: string; amount: number }[] = []
  let left = amount
  for (const inv of open) {
    if (left === 0 || wanted.length === MAX_PAYMENT_ALLOCATIONS) break
    const outstanding = plan.held<InvoiceRow>('invoice', inv.id)?.outstanding ?? inv.outstanding
    if (outstanding === 0) continue
    const a = Math.min(left, outstanding)
    wanted.push({ invoice: inv.id, amount: a })
    left -= a
  }
  return wanted
}

/** Locks the invoices (id order) and checks each amount against its outstanding and the total against the payment. */
async function holdSettlements(trx: Trx, plan: Plan, ctx: RequestContext, customerId: string, wanted: { invoice: string; amount: number }[], paymentAmount: number): Promise<Settlement[]> {
  const invoices = await holdInvoices(trx, plan, ctx, wanted.map((w) => w.invoice), customerId)
  const out = wanted.map((w, i) => {
    const s = { inv: invoices.get(w.invoice)!, amount: w.amount }
    assertSettles(s, `allocations.${i}.invoice`, `allocations.${i}.amount`)
    return s
  })
  const total = out.reduce((sum, a) => sum + a.amount, 0)
  if (total > paymentAmount) throw new AppError('over_allocation', `Allocations total ${total}, more than the payment ${paymentAmount}.`, { param: 'allocations' })
  return out
}

function assertWriteOffFits(settlement: Settlement, writeOff: { amount: number }): void {
  const left = settlement.inv.outstanding - settlement.amount
  if (writeOff.amount > left) {
    throw new AppError('write_off_exceeds_outstanding', `The write-off exceeds the ${left} left on invoice ${settlement.inv.id} after the payment.`, { param: 'write_off.amount' })
  }
}

/** Plans a payment of the held customer (see the workflow above). */
export async function planPayment(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  input: CreatePaymentInput,
  opts: { saleId?: string; methodParam?: string } = {},
) {
  assertAllocationShape(input)
  await paymentMethodOf(trx, ctx, lc, input.method, opts.methodParam)
  assertCustomerUsable(customer)
  const currency = assertCurrency(input.currency ?? customer.currency)
  if (currency !== customer.currency) {
    throw new AppError('currency_mismatch', `The customer pays in ${customer.currency}, not ${currency}.`, { param: 'currency' })
  }
  const rate = documentRate(currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const receivedDate = input.received_date ?? lc.today
  const wanted = input.auto_apply ? await autoApply(trx, plan, ctx, customer.id, input.amount) : (input.allocations ?? [])
  const settlements = await holdSettlements(trx, plan, ctx, customer.id, wanted, input.amount)
  if (input.write_off) assertWriteOffFits(settlements[0], input.write_off)

  const ref = documentRef(input)
  await claimExternalId(trx, plan, ctx, 'payments', ref.external_id, customer.id)
  const id = newId('pay')
  const bases = await planBaseShares(trx, plan, ctx, settlements)
  const applied = settlements.reduce((s, a) => s + a.amount, 0)
  const entry = await plan.post(trx, ctx, {
    event: applied > 0 ? 'payment_applied' : 'payment_unapplied',
    source_type: 'payment',
    source_id: id,
    entry_date: receivedDate,
    currency,
    base_currency: lc.base_currency,
    exchange_rate: rate,
    method: input.method,
    memo: input.reference,
    lines: [
      { role: 'cash', side: 'debit', amount: input.amount },
      ...settlements.map((s, i): ProposedLine => ({ role: 'ar', side: 'credit', amount: s.amount, customer_id: customer.id, base: bases[i] })),
      { role: 'advances', side: 'credit', amount: input.amount - applied, customer_id: customer.id },
    ],
  })
  const row = planPaymentRow(
    plan,
    ctx,
    {
      id,
      customer_id: customer.id,
      amount: input.amount,
      currency,
      exchange_rate: rate,
      received_date: receivedDate,
      method: input.method,
      reference: input.reference ?? null,
      unapplied_amount: input.amount - applied,
      sale_id: opts.saleId ?? null,
      journal_entry_id: entry.id,
      ...ref,
    },
    customer.locked_at,
  )
  plan.balance(
    stageBalanceChange(ctx, customer, {
      pending: -applied,
      advance: input.amount - applied,
      txn: { type: 'payment', reference: input.reference ?? id, source_type: 'payment', source_id: id, posting_date: receivedDate, journal_entry_id: entry.id },
    }),
  )
  const allocations = planAllocations(
    plan,
    ctx,
    customer,
    { type: 'payment', id, journal_entry_id: entry.id, date: receivedDate },
    settlements.map((s, i) => ({ ...s, base: bases[i] })),
  )
  const writeOff = input.write_off
    ? await planWriteOff(trx, plan, ctx, lc, customer, {
        invoice_id: settlements[0].inv.id,
        amount: input.write_off.amount,
        reason: input.write_off.reason,
        write_off_date: receivedDate,
        payment_id: id,
      })
    : null
  const view = paymentView(row, allocations, writeOff && { id: writeOff.id, amount: writeOff.amount, invoice: writeOff.invoice, reason: writeOff.reason })
  plan.audit(ctx, { action: 'payment.created', entity_type: 'payment', entity_id: id, after: { customer: customer.id, amount: input.amount, currency, applied } })
  plan.event(ctx, 'payment.created', view)
  return view
}

/** POST /v1/payments, batched (core/http/batch.ts): one answer per request, in order. */
export function createPayments(trx: Trx, items: BatchItem<CreatePaymentInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planPayment(trx, plan, ctx, lc, customer, input),
  })
}

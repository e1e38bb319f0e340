import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCurrency } from '../kernel/money'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import {
  assertCustomerUsable, changeBalance, CustomerState, documentRate, ledgerContext, lockCustomer, postEntry, ProposedLine,
} from '../ledger/engine'
import type { AllocationView } from '../allocations/model'
import { assertInvoiceOpen, lockInvoices, openInvoicesOldestFirst, type InvoiceRow } from '../invoices/model'
import { insertPayment, paymentView } from '../payments/model'
import { CreatePaymentInput, MAX_PAYMENT_ALLOCATIONS } from '../payments/schemas'
import type { PaymentView } from '../views/documents'
import { invoiceBaseShares } from '../views/settlement'
import { applyCredit } from './apply-credit'
import { postWriteOff } from './write-off'

/**
 * Workflow: record a payment. Lock the customer, then the invoices it settles (explicit or
 * auto-applied, id order); check every allocation and the write-off; post one entry; record the
 * allocations it settled and the write-off of a short payment.
 */

interface Settlement {
  inv: InvoiceRow
  amount: number
}

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
 * out. Read under the customer lock, which every change to the customer's invoices holds.
 */
async function autoApplyPlan(trx: Trx, ctx: RequestContext, customerId: string, amount: number) {
  const open = await openInvoicesOldestFirst(trx, ctx, customerId, MAX_PAYMENT_ALLOCATIONS)
  const plan: { invoice: string; amount: number }[] = []
  let left = amount
  for (const inv of open) {
    if (left === 0) break
    const a = Math.min(left, inv.outstanding)
    plan.push({ invoice: inv.id, amount: a })
    left -= a
  }
  return plan
}

/** Locks the invoices (id order) and checks each amount against its outstanding and the total against the payment. */
async function lockSettlements(trx: Trx, ctx: RequestContext, customerId: string, plan: { invoice: string; amount: number }[], paymentAmount: number): Promise<Settlement[]> {
  const invoices = await lockInvoices(trx, ctx, plan.map((p) => p.invoice), customerId)
  const out = plan.map((p, i) => {
    const inv = invoices.get(p.invoice)!
    assertInvoiceOpen(inv, `allocations.${i}.invoice`)
    if (p.amount > inv.outstanding) {
      throw new AppError('over_allocation', `The allocation exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: `allocations.${i}.amount` })
    }
    return { inv, amount: p.amount }
  })
  const total = out.reduce((s, a) => s + a.amount, 0)
  if (total > paymentAmount) throw new AppError('over_allocation', `Allocations total ${total}, more than the payment ${paymentAmount}.`, { param: 'allocations' })
  return out
}

function assertWriteOffFits(settlement: Settlement, writeOff: { amount: number }): void {
  const left = settlement.inv.outstanding - settlement.amount
  if (writeOff.amount > left) {
    throw new AppError('write_off_exceeds_outstanding', `The write-off exceeds the ${left} left on invoice ${settlement.inv.id} after the payment.`, { param: 'write_off.amount' })
  }
}

/** The payment's allocations: its own entry credited AR, so they only record what it settled. */
async function applySettlements(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  payment: { id: string; journal_entry_id: string; received_date: string },
  settlements: Settlement[],
  bases: number[],
): Promise<AllocationView[]> {
  const out: AllocationView[] = []
  for (const [i, s] of settlements.entries()) {
    out.push(
      await applyCredit(trx, ctx, customer, {
        source_type: 'payment',
        source_id: payment.id,
        invoice_id: s.inv.id,
        amount: s.amount,
        effective_date: payment.received_date,
        post: false,
        journal_entry_id: payment.journal_entry_id,
        base_amount: bases[i],
      }),
    )
  }
  return out
}

/**
 * Records a payment: Dr cash X; Cr ar per settled invoice (at the invoice's base share, any rate
 * difference posted as realized FX); Cr advances for the rest. Allocations are explicit or
 * auto-applied, re-checked under the customer and invoice locks; a short payment may write off the
 * rest of its single invoice.
 */
export async function createPayment(
  trx: Trx,
  ctx: RequestContext,
  input: CreatePaymentInput,
  opts: { saleId?: string; customer?: CustomerState } = {},
): Promise<PaymentView> {
  assertAllocationShape(input)
  const lc = await ledgerContext(trx, ctx)
  const customer = opts.customer ?? (await lockCustomer(trx, ctx, input.customer))
  assertCustomerUsable(customer)
  const currency = assertCurrency(input.currency ?? customer.currency)
  if (currency !== customer.currency) {
    throw new AppError('currency_mismatch', `The customer pays in ${customer.currency}, not ${currency}.`, { param: 'currency' })
  }
  const rate = documentRate(currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const receivedDate = input.received_date ?? lc.today
  const plan = input.auto_apply ? await autoApplyPlan(trx, ctx, customer.id, input.amount) : (input.allocations ?? [])
  const settlements = await lockSettlements(trx, ctx, customer.id, plan, input.amount)
  if (input.write_off) assertWriteOffFits(settlements[0], input.write_off)

  const id = newId('pay')
  const bases = await invoiceBaseShares(trx, ctx, settlements)
  const applied = settlements.reduce((s, a) => s + a.amount, 0)
  const entryId = await postEntry(trx, ctx, {
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
  const row = await insertPayment(trx, ctx, {
    id,
    customer_id: customer.id,
    amount: input.amount,
    currency,
    exchange_rate: rate,
    received_date: receivedDate,
    method: input.method,
    reference: input.reference ?? null,
    unapplied_amount: input.amount, // the allocations below take the applied part out
    sale_id: opts.saleId ?? null,
    journal_entry_id: entryId,
  })
  await changeBalance(trx, ctx, customer, {
    pending: -applied,
    advance: input.amount - applied,
    txn: { type: 'payment', reference: input.reference ?? id, source_type: 'payment', source_id: id, posting_date: receivedDate, journal_entry_id: entryId },
  })
  const allocations = await applySettlements(trx, ctx, customer, row, settlements, bases)
  const writeOff = input.write_off
    ? await postWriteOff(trx, ctx, customer, {
        invoice_id: settlements[0].inv.id,
        amount: input.write_off.amount,
        reason: input.write_off.reason,
        write_off_date: receivedDate,
        base_currency: lc.base_currency,
        payment_id: id,
      })
    : null

  const view = paymentView(
    { ...row, unapplied_amount: input.amount - applied },
    allocations,
    writeOff && { id: writeOff.id, amount: writeOff.amount, invoice: writeOff.invoice, reason: writeOff.reason },
  )
  await recordAudit(trx, ctx, { action: 'payment.created', entity_type: 'payment', entity_id: id, after: { customer: customer.id, amount: input.amount, currency, applied } })
  await emitEvent(trx, ctx, 'payment.created', view)
  return view
}


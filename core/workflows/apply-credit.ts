import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { assertCustomerUsable, changeBalance, CustomerState, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import { allocationView, insertAllocation, type AllocationView, type CreditSourceType } from '../allocations/model'
import { assertInvoiceOpen, changeOutstanding, lockInvoices } from '../invoices/model'
import { invoiceBaseShare } from '../views/settlement'
import { assertSourceLive, changeUnapplied, creditSourceCustomer, creditSourceType, lockCreditSource } from './steps/credit-sources'

/**
 * Workflow: apply a payment's or credit note's unapplied credit to an invoice of the same customer
 * (Dr advances / Cr AR), or record which invoice a document's own AR credit settled.
 */

export interface ApplyCreditInput {
  source_type: CreditSourceType
  source_id: string
  invoice_id: string
  amount: number
  effective_date: string
  /**
   * Default true: post 'advance_applied' (Dr advances / Cr ar) and move the cached balance.
   * false: the caller's own entry already credited AR for this amount (a payment's or a credit
   * note's applied part) and moved the balance itself; only the allocation row, the source's
   * unapplied amount and the invoice's outstanding change. Pass that entry's id and the AR base it
   * credited (from `invoiceBaseShare`, computed before posting).
   */
  post?: boolean
  journal_entry_id?: string
  base_amount?: number
}

/**
 * Applies unapplied credit of a payment or credit note to an invoice of the same customer. The
 * customer must be locked by the caller; this locks the source, then the invoice. The caller's
 * in-memory InvoiceRow of that invoice (if any) is stale afterwards: re-lock it before using it.
 */
export async function applyCredit(trx: Trx, ctx: RequestContext, customer: CustomerState, input: ApplyCreditInput): Promise<AllocationView> {
  const post = input.post ?? true
  if (!post && !input.journal_entry_id) throw new Error('applyCredit with post: false needs the journal entry that credited AR')
  const source = await lockCreditSource(trx, ctx, customer.id, input.source_id)
  if (source.type !== input.source_type) throw notFound(input.source_type, input.source_id, 'source')
  assertSourceLive(source)
  const inv = (await lockInvoices(trx, ctx, [input.invoice_id], customer.id)).get(input.invoice_id)!
  assertInvoiceOpen(inv)
  if (input.amount > source.unapplied_amount) {
    throw new AppError('over_allocation', `The amount exceeds ${source.id}'s unapplied amount ${source.unapplied_amount}.`, { param: 'amount' })
  }
  if (input.amount > inv.outstanding) {
    throw new AppError('over_allocation', `The amount exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  }

  const id = newId('alc')
  const base = input.base_amount ?? (await invoiceBaseShare(trx, ctx, inv, input.amount))
  let entryId = input.journal_entry_id ?? null
  if (post) {
    const lc = await ledgerContext(trx, ctx)
    entryId = await postEntry(trx, ctx, {
      event: 'advance_applied',
      source_type: 'allocation',
      source_id: id,
      entry_date: input.effective_date,
      currency: source.currency,
      base_currency: lc.base_currency,
      exchange_rate: source.exchange_rate,
      lines: [
        { role: 'advances', side: 'debit', amount: input.amount, customer_id: customer.id },
        { role: 'ar', side: 'credit', amount: input.amount, customer_id: customer.id, base },
      ],
    })
    await changeBalance(trx, ctx, customer, { pending: -input.amount, advance: -input.amount })
  }
  await changeUnapplied(trx, ctx, source, -input.amount)
  await changeOutstanding(trx, ctx, inv, -input.amount)
  const row = await insertAllocation(trx, ctx, {
    id,
    customer_id: customer.id,
    source_type: source.type,
    source_id: source.id,
    invoice_id: inv.id,
    amount: input.amount,
    base_amount: base,
    effective_date: input.effective_date,
    journal_entry_id: entryId,
  })
  const view = allocationView(row)
  await recordAudit(trx, ctx, { action: 'allocation.created', entity_type: 'allocation', entity_id: id, after: { source: source.id, invoice: inv.id, amount: input.amount } })
  await emitEvent(trx, ctx, 'allocation.created', view)
  return view
}

/** POST /v1/allocations: applies a payment's or credit note's unapplied credit to an invoice, today. */
export async function createAllocation(trx: Trx, ctx: RequestContext, input: { source: string; invoice: string; amount: number }): Promise<AllocationView> {
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, await creditSourceCustomer(trx, ctx, input.source))
  assertCustomerUsable(customer)
  return applyCredit(trx, ctx, customer, {
    source_type: creditSourceType(input.source)!,
    source_id: input.source,
    invoice_id: input.invoice,
    amount: input.amount,
    effective_date: lc.today,
  })
}


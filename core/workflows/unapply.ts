import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { changeBalance, CustomerState, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import { allocationView, getAllocation, getAllocationRow, lockAllocation, markAllocationReversed, type AllocationView } from '../allocations/model'
import { changeOutstanding, lockInvoices } from '../invoices/model'
import { changeUnapplied, lockCreditSource } from './steps/credit-sources'

/** Workflow: un-apply one allocation (POST /v1/allocations/:id/reverse, and the first step of a void). */

/**
 * Un-applies one allocation: the mirror of its AR credit (Dr ar at the allocation's base) against
 * the source's advances (Cr advances at the source's rate), the difference being the realized FX
 * the application booked. The invoice reopens by the amount and the source regains it as unapplied
 * credit, also for a credit note's allocation written with `post: false` (voiding a credit note after
 * un-applying it therefore reverses advances, not AR). The customer must be locked by the caller;
 * this locks the allocation, the source, then the invoice; a voided source is allowed (its void
 * un-applies it). Stale caller InvoiceRows: see applyCredit.
 */
export async function unapplyAllocation(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  allocationId: string,
  opts: { reason: string; posting_date: string },
): Promise<void> {
  const alc = await lockAllocation(trx, ctx, customer.id, allocationId)
  if (alc.status === 'reversed') throw new AppError('already_reversed', `Allocation ${alc.id} is already reversed.`)
  const source = await lockCreditSource(trx, ctx, customer.id, alc.source_id)
  const inv = (await lockInvoices(trx, ctx, [alc.invoice_id], customer.id)).get(alc.invoice_id)!
  const lc = await ledgerContext(trx, ctx)

  const entryId = await postEntry(trx, ctx, {
    event: 'reversal',
    realizes_fx: true,
    source_type: 'allocation',
    source_id: alc.id,
    entry_date: opts.posting_date,
    currency: source.currency,
    base_currency: lc.base_currency,
    exchange_rate: source.exchange_rate,
    memo: `Un-apply ${alc.id}`,
    lines: [
      { role: 'ar', side: 'debit', amount: alc.amount, customer_id: customer.id, base: alc.base_amount },
      { role: 'advances', side: 'credit', amount: alc.amount, customer_id: customer.id },
    ],
  })
  await changeBalance(trx, ctx, customer, { pending: alc.amount, advance: alc.amount })
  await changeUnapplied(trx, ctx, source, alc.amount)
  await changeOutstanding(trx, ctx, inv, alc.amount)
  const row = await markAllocationReversed(trx, ctx, alc.id, { reason: opts.reason, reversal_entry_id: entryId })
  await recordAudit(trx, ctx, {
    action: 'allocation.reversed',
    entity_type: 'allocation',
    entity_id: alc.id,
    before: { status: 'applied' },
    after: { status: 'reversed', journal_entry: entryId },
    reason: opts.reason,
  })
  await emitEvent(trx, ctx, 'allocation.reversed', allocationView(row))
}

/** POST /v1/allocations/:id/reverse: un-applies one allocation, posted today. */
export async function reverseAllocation(trx: Trx, ctx: RequestContext, id: string, reason: string): Promise<AllocationView> {
  const found = await getAllocationRow(trx, ctx, id)
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, found.customer_id)
  await unapplyAllocation(trx, ctx, customer, id, { reason, posting_date: lc.today })
  return getAllocation(trx, ctx, id)
}

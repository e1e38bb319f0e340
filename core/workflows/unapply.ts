import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { ledgerContext, stageBalanceChange, type CustomerState, type LedgerContext } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { allocationView, getAllocation, getAllocationRow, planAllocationReversed, type AllocationView } from '../allocations/model'
import { planOutstanding } from '../invoices/model'
import { planUnapplied } from './steps/credit-sources'
import { holdAllocation, holdCreditSource, holdCustomer, holdInvoices } from './steps/locks'

/**
 * Workflow: un-apply one allocation (POST /v1/allocations/:id/reverse, and the first step of a void):
 * the mirror of its AR credit (Dr ar at the allocation's base) against the source's advances (Cr
 * advances at the source's rate), the difference being the realized FX the application booked.
 * The invoice reopens by the amount and the source regains it as unapplied credit, also for a
 * credit note's own allocation (voiding a credit note after un-applying it therefore reverses
 * advances, not AR). Lock: the held customer, then the allocation, the source and the invoice; a
 * voided source is allowed (its void un-applies it).
 */
export async function planUnapply(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  allocationId: string,
  opts: { reason: string; posting_date: string },
): Promise<AllocationView> {
  const alc = await holdAllocation(trx, plan, ctx, customer.id, allocationId)
  if (alc.status === 'reversed') throw new AppError('already_reversed', `Allocation ${alc.id} is already reversed.`)
  const source = await holdCreditSource(trx, plan, ctx, customer.id, alc.source_id)
  const inv = (await holdInvoices(trx, plan, ctx, [alc.invoice_id], customer.id)).get(alc.invoice_id)!

  const entry = await plan.post(trx, ctx, {
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
  plan.balance(stageBalanceChange(ctx, customer, { pending: alc.amount, advance: alc.amount }))
  planUnapplied(plan, source, alc.amount)
  planOutstanding(plan, ctx, inv, alc.amount)
  plan.hold('invoice_base', inv.id, { base: 0 }, customer.id).base -= alc.base_amount
  const row = planAllocationReversed(plan, alc, { reason: opts.reason, reversal_entry_id: entry.id, at: customer.locked_at })
  plan.audit(ctx, {
    action: 'allocation.reversed',
    entity_type: 'allocation',
    entity_id: alc.id,
    before: { status: 'applied' },
    after: { status: 'reversed', journal_entry: entry.id },
    reason: opts.reason,
  })
  const view = allocationView(row)
  plan.event(ctx, 'allocation.reversed', view)
  return view
}

/** POST /v1/allocations/:id/reverse: un-applies one allocation, posted today. */
export async function reverseAllocation(trx: Trx, ctx: RequestContext, id: string, reason: string): Promise<AllocationView> {
  const found = await getAllocationRow(trx, ctx, id)
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  // Reversing twice is `already_reversed`, also once the customer is merged (a reversed allocation
  // never comes back, so the status read before the lock is final).
  if (found.status === 'reversed') throw new AppError('already_reversed', `Allocation ${found.id} is already reversed.`, { param: 'id' })
  const customer = await holdCustomer(trx, plan, ctx, found.customer_id)
  if (customer.status === 'merged') throw new AppError('customer_inactive', `Customer '${customer.id}' was merged into another: its history is final.`, { param: 'id' })
  await planUnapply(trx, plan, ctx, lc, customer, id, { reason, posting_date: lc.today })
  await plan.write(trx)
  return getAllocation(trx, ctx, id)
}

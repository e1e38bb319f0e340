import type { Trx } from '../../kernel/db/knex'
import type { RequestContext } from '../../kernel/context'
import { AppError } from '../../kernel/errors'
import { newId } from '../../kernel/ids'
import type { CustomerState } from '../../ledger/engine'
import type { Plan } from '../../ledger/plan'
import { allocationView, planAllocationRow, type AllocationView, type CreditSourceType } from '../../allocations/model'
import { planOutstanding, type InvoiceRow } from '../../invoices/model'
import { invoiceBaseShares } from '../../views/settlement'

/**
 * Settling invoices inside a plan: the AR base each settlement credits (counting what earlier
 * requests of the batch credited) and the allocations that record which document paid which
 * invoice.
 */

export interface Settlement {
  inv: InvoiceRow
  amount: number
}

const planned = (plan: Plan) => (invoiceId: string) => plan.held<{ base: number }>('invoice_base', invoiceId)?.base ?? 0

/** Base-currency AR amounts that settling each item credits (see invoiceBaseShares). */
export function planBaseShares(trx: Trx, plan: Plan, ctx: RequestContext, items: Settlement[]): Promise<number[]> {
  return invoiceBaseShares(trx, ctx, items, planned(plan))
}

/** Refuses a settlement of more than a held invoice's outstanding, or of a void invoice. */
export function assertSettles(s: Settlement, param: string, amountParam = 'amount'): void {
  if (s.inv.status === 'void') throw new AppError('invalid_state', `Invoice '${s.inv.id}' is void.`, { param })
  if (s.amount > s.inv.outstanding) {
    throw new AppError('over_allocation', `The amount exceeds invoice ${s.inv.id}'s outstanding ${s.inv.outstanding}.`, { param: amountParam })
  }
}

/**
 * Plans the allocations of credit that an entry of `source` moved onto invoices (its AR credits):
 * each invoice's outstanding comes down, and the allocation row records source, invoice, amount
 * and the AR base credited. The caller has checked every settlement (assertSettles).
 */
export function planAllocations(
  plan: Plan,
  ctx: RequestContext,
  customer: CustomerState,
  source: { type: CreditSourceType; id: string; journal_entry_id: string; date: string },
  settlements: (Settlement & { base: number; id?: string })[],
): AllocationView[] {
  return settlements.map((s) => {
    const row = planAllocationRow(
      plan,
      ctx,
      {
        id: s.id ?? newId('alc'),
        customer_id: customer.id,
        source_type: source.type,
        source_id: source.id,
        invoice_id: s.inv.id,
        amount: s.amount,
        base_amount: s.base,
        effective_date: source.date,
        journal_entry_id: source.journal_entry_id,
      },
      customer.locked_at,
    )
    planOutstanding(plan, ctx, s.inv, -s.amount)
    plan.hold('invoice_base', s.inv.id, { base: 0 }, customer.id).base += s.base
    const view = allocationView(row)
    plan.audit(ctx, { action: 'allocation.created', entity_type: 'allocation', entity_id: row.id, after: { source: source.id, invoice: s.inv.id, amount: s.amount } })
    plan.event(ctx, 'allocation.created', view)
    return view
  })
}

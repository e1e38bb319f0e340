import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { ledgerContext } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow } from '../payments/model'
import { getSaleRow, planSaleCancelled } from '../sales/model'
import type { CancelSaleInput } from '../sales/schemas'
import { getSaleView } from '../views/documents'
import { holdCustomer } from './steps/locks'
import { planVoid } from './void'
import { quantityFromDb, quantityOut } from '../kernel/quantity'

/** Workflow: cancel a sale: void its payment and invoice, ask the merchant to restock the goods. */

/**
 * POST /v1/sales/:id/cancel: voids the payment (un-applying it) and the invoice (un-applying
 * anything else paid on it), then asks the merchant to put the goods not already returned back
 * into stock (`inventory.restore_requested`).
 */
export async function cancelSale(trx: Trx, ctx: RequestContext, id: string, input: CancelSaleInput) {
  const found = await getSaleRow(trx, ctx, id)
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const customer = await holdCustomer(trx, plan, ctx, found.customer_id)
  const sale = await getSaleRow(trx, ctx, id, { forUpdate: true })
  if (sale.status === 'cancelled') throw new AppError('already_reversed', `Sale ${id} is already cancelled.`, { param: 'id' })

  const opts = { reason: input.reason, posting_date: input.posting_date }
  // Either document may have been voided on its own before.
  if (sale.payment_id && (await getPaymentRow(trx, ctx, sale.payment_id)).status !== 'voided') await planVoid(trx, plan, ctx, lc, customer, sale.payment_id, opts)
  if ((await getInvoiceRow(trx, ctx, sale.invoice_id)).status !== 'void') await planVoid(trx, plan, ctx, lc, customer, sale.invoice_id, opts)
  planSaleCancelled(plan, sale, input.reason, customer.locked_at)
  plan.audit(ctx, { action: 'sale.cancelled', entity_type: 'sale', entity_id: id, before: { status: 'completed' }, after: { status: 'cancelled' }, reason: input.reason })
  const view = () => getSaleView(trx, ctx, sale)
  plan.announce(ctx, 'sale.cancelled', view)
  plan.announce(ctx, 'inventory.restore_requested', async () => {
    const lines = (await view()).invoice.lines
      .map((l) => ({ l, left: quantityFromDb(l.quantity) - quantityFromDb(l.returned_quantity) }))
      .filter(({ left }) => left > 0)
      .map(({ l, left }) => ({ line_no: l.line_no, product_ref: l.product_ref, description: l.description, quantity: quantityOut(left) }))
    return { sale: id, customer: sale.customer_id, invoice: sale.invoice_id, reason: input.reason, lines }
  })
  await plan.write(trx)
  return view()
}

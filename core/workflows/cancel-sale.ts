import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { lockCustomer } from '../ledger/engine'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow } from '../payments/model'
import { getSaleRow, markSaleCancelled } from '../sales/model'
import type { CancelSaleInput } from '../sales/schemas'
import { getSaleView } from '../views/documents'
import { voidDocument } from './void'

/** Workflow: cancel a sale: void its payment and invoice, ask the merchant to restock the goods. */

/**
 * POST /v1/sales/:id/cancel: voids the payment (un-applying it) and the invoice (un-applying
 * anything else paid on it), then asks the merchant to put the goods not already returned back
 * into stock (`inventory.restore_requested`).
 */
export async function cancelSale(trx: Trx, ctx: RequestContext, id: string, input: CancelSaleInput) {
  const found = await getSaleRow(trx, ctx, id)
  const customer = await lockCustomer(trx, ctx, found.customer_id)
  const sale = await getSaleRow(trx, ctx, id, { forUpdate: true })
  if (sale.status === 'cancelled') throw new AppError('already_reversed', `Sale ${id} is already cancelled.`, { param: 'id' })

  const opts = { reason: input.reason, posting_date: input.posting_date }
  // Either document may have been voided on its own before.
  if (sale.payment_id && (await getPaymentRow(trx, ctx, sale.payment_id)).status !== 'voided') await voidDocument(trx, ctx, customer, sale.payment_id, opts)
  if ((await getInvoiceRow(trx, ctx, sale.invoice_id)).status !== 'void') await voidDocument(trx, ctx, customer, sale.invoice_id, opts)
  const row = await markSaleCancelled(trx, ctx, id, input.reason)

  const view = await getSaleView(trx, ctx, row)
  const lines = view.invoice.lines
    .filter((l) => l.quantity > l.returned_quantity)
    .map((l) => ({ line_no: l.line_no, product_ref: l.product_ref, description: l.description, quantity: l.quantity - l.returned_quantity }))
  await recordAudit(trx, ctx, { action: 'sale.cancelled', entity_type: 'sale', entity_id: id, before: { status: 'completed' }, after: { status: 'cancelled' }, reason: input.reason })
  await emitEvent(trx, ctx, 'sale.cancelled', view)
  await emitEvent(trx, ctx, 'inventory.restore_requested', { sale: id, customer: sale.customer_id, invoice: sale.invoice_id, reason: input.reason, lines })
  return view
}


import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { lockCustomer } from '../ledger/engine'
import { createInvoice, getInvoice, getInvoiceRow } from '../invoices/service'
import { createPayment, getPayment, getPaymentRow } from '../payments/service'
import { voidDocument } from '../reversals/service'
import type { CancelSaleInput, CreateSaleInput } from './schemas'

export interface SaleRow {
  id: string
  customer_id: string
  invoice_id: string
  payment_id: string | null
  status: 'completed' | 'cancelled'
  cancelled_at: Date | null
  cancel_reason: string | null
  created_at: Date
}

async function saleView(trx: Trx, ctx: RequestContext, sale: SaleRow) {
  return {
    id: sale.id,
    object: 'sale' as const,
    customer: sale.customer_id,
    invoice: await getInvoice(trx, ctx, sale.invoice_id),
    payment: sale.payment_id ? await getPayment(trx, ctx, sale.payment_id) : null,
    status: sale.status,
    cancelled_at: sale.cancelled_at ? sale.cancelled_at.toISOString() : null,
    cancel_reason: sale.cancel_reason,
    created: sale.created_at.toISOString(),
  }
}

/**
 * POST /v1/sales: the sale, its invoice and (when paid at the till) the payment applied to it, in
 * the request's one transaction: any failure writes nothing. The credit limit is checked on the
 * invoice total, as for any invoice.
 */
export async function createSale(trx: Trx, ctx: RequestContext, input: CreateSaleInput) {
  const customer = await lockCustomer(trx, ctx, input.customer)
  const id = newId('sale')
  const invoice = await createInvoice(
    trx,
    ctx,
    { customer: customer.id, issue_date: input.issue_date, lines: input.lines, exchange_rate: input.exchange_rate, memo: input.memo, credit_override: input.credit_override },
    { saleId: id, customer },
  )
  const payment = input.payment
    ? await createPayment(
        trx,
        ctx,
        {
          customer: customer.id,
          amount: input.payment.amount,
          method: input.payment.method,
          reference: input.payment.reference,
          received_date: invoice.issue_date,
          exchange_rate: input.exchange_rate,
          allocations: [{ invoice: invoice.id, amount: Math.min(input.payment.amount, invoice.total) }],
        },
        { saleId: id, customer },
      )
    : null
  const [row] = await trx('sales')
    .insert({ tenant_id: ctx.tenantId, id, customer_id: customer.id, invoice_id: invoice.id, payment_id: payment?.id ?? null, status: 'completed', created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  const view = await saleView(trx, ctx, row)
  await recordAudit(trx, ctx, { action: 'sale.created', entity_type: 'sale', entity_id: id, after: { customer: customer.id, invoice: invoice.id, payment: payment?.id ?? null, total: invoice.total } })
  await emitEvent(trx, ctx, 'sale.created', view)
  return view
}

/**
 * POST /v1/sales/:id/cancel: voids the payment (un-applying it) and the invoice (un-applying
 * anything else paid on it), then asks the merchant to put the goods not already returned back
 * into stock (`inventory.restore_requested`).
 */
export async function cancelSale(trx: Trx, ctx: RequestContext, id: string, input: CancelSaleInput) {
  const found = await trx('sales').where({ tenant_id: ctx.tenantId, id }).first('customer_id')
  if (!found) throw notFound('sale', id, 'id')
  const customer = await lockCustomer(trx, ctx, found.customer_id)
  const sale: SaleRow = await trx('sales').where({ tenant_id: ctx.tenantId, id }).forUpdate().first()
  if (sale.status === 'cancelled') throw new AppError('already_reversed', `Sale ${id} is already cancelled.`, { param: 'id' })

  const opts = { reason: input.reason, posting_date: input.posting_date }
  // Either document may have been voided on its own before.
  if (sale.payment_id && (await getPaymentRow(trx, ctx, sale.payment_id)).status !== 'voided') await voidDocument(trx, ctx, customer, sale.payment_id, opts)
  if ((await getInvoiceRow(trx, ctx, sale.invoice_id)).status !== 'void') await voidDocument(trx, ctx, customer, sale.invoice_id, opts)
  const [row] = await trx('sales')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'cancelled', cancelled_at: trx.fn.now(), cancel_reason: input.reason })
    .returning('*')

  const view = await saleView(trx, ctx, row)
  const lines = view.invoice.lines
    .filter((l) => l.quantity > l.returned_quantity)
    .map((l) => ({ line_no: l.line_no, product_ref: l.product_ref, description: l.description, quantity: l.quantity - l.returned_quantity }))
  await recordAudit(trx, ctx, { action: 'sale.cancelled', entity_type: 'sale', entity_id: id, before: { status: 'completed' }, after: { status: 'cancelled' }, reason: input.reason })
  await emitEvent(trx, ctx, 'sale.cancelled', view)
  await emitEvent(trx, ctx, 'inventory.restore_requested', { sale: id, customer: sale.customer_id, invoice: sale.invoice_id, reason: input.reason, lines })
  return view
}

export async function getSale(trx: Trx, ctx: RequestContext, id: string) {
  const row: SaleRow | undefined = await trx('sales').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('sale', id, 'id')
  return saleView(trx, ctx, row)
}

export async function listSales(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('sales').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  const { rows, has_more } = await paginate<SaleRow>(query, q)
  const views = []
  for (const r of rows) views.push(await saleView(trx, ctx, r))
  return page(views, has_more)
}

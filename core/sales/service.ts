import type { Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { AppError, notFound } from '../errors'
import { newId } from '../ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../events/outbox'
import { paginate, page, ListQuery } from '../http/pagination'
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
  tendered_amount: number | null
  change_given: number
  keep_as_credit: boolean
}

async function saleView(trx: Trx, ctx: RequestContext, sale: SaleRow) {
  const payment = sale.payment_id ? await getPayment(trx, ctx, sale.payment_id) : null
  return {
    id: sale.id,
    object: 'sale' as const,
    customer: sale.customer_id,
    invoice: await getInvoice(trx, ctx, sale.invoice_id),
    payment,
    // Sales from before tenders were kept: what was tendered is what was posted.
    tender: payment
      ? { method: payment.method, amount: sale.tendered_amount ?? payment.amount, change_given: sale.change_given, keep_as_credit: sale.keep_as_credit }
      : null,
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
  const posted = input.payment ? paymentToPost(input.payment, invoice.total) : 0
  const payment = input.payment && posted > 0
    ? await createPayment(
        trx,
        ctx,
        {
          customer: customer.id,
          amount: posted,
          method: input.payment.method,
          reference: input.payment.reference,
          received_date: invoice.issue_date,
          exchange_rate: input.exchange_rate,
          allocations: [{ invoice: invoice.id, amount: Math.min(posted, invoice.total) }],
        },
        { saleId: id, customer },
      )
    : null
  const [row] = await trx('sales')
    .insert({
      tenant_id: ctx.tenantId, id, customer_id: customer.id, invoice_id: invoice.id, payment_id: payment?.id ?? null, status: 'completed', created_by: ctx.keyId ?? ctx.role,
      tendered_amount: payment ? input.payment!.amount : null,
      change_given: payment ? input.payment!.change_given ?? 0 : 0,
      keep_as_credit: payment ? input.payment!.keep_as_credit === true : false,
    })
    .returning('*')
  const view = await saleView(trx, ctx, row)
  await recordAudit(trx, ctx, { action: 'sale.created', entity_type: 'sale', entity_id: id, after: { customer: customer.id, invoice: invoice.id, payment: payment?.id ?? null, total: invoice.total } })
  await emitEvent(trx, ctx, 'sale.created', view)
  return view
}

/**
 * The payment a sale posts out of what was tendered: the amount less the cash handed back as
 * change. Change is cash only and at most the excess over the total; an excess left after change is
 * refused unless the customer keeps it as credit (advance balance). Checked before the payment is
 * written; the invoice written before it rolls back with the request.
 */
function paymentToPost(tender: NonNullable<CreateSaleInput['payment']>, total: number): number {
  const change = tender.change_given ?? 0
  const excess = Math.max(tender.amount - total, 0)
  if (change > 0 && tender.method !== 'cash') {
    throw new AppError('change_not_allowed', `Change can only be given on a cash payment, not on '${tender.method}'.`, { param: 'payment.change_given' })
  }
  if (change > excess) {
    throw new AppError('change_not_allowed', `change_given (${change}) is more than the amount paid above the total (${excess}).`, { param: 'payment.change_given', details: { total, amount: tender.amount, excess } })
  }
  const posted = tender.amount - change
  if (posted > total && tender.keep_as_credit !== true) {
    throw new AppError(
      'overpayment',
      `The payment (${tender.amount}${change ? `, less ${change} change` : ''}) exceeds the sale total (${total}) by ${posted - total}: give it back as change_given (cash) or set keep_as_credit.`,
      { param: 'payment.amount', details: { total, amount: tender.amount, change_given: change, excess: posted - total } },
    )
  }
  return posted
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

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paymentMethodOf, type CustomerState, type LedgerContext } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { invoiceView, type InvoiceLineRow, type InvoiceRow } from '../invoices/model'
import { planSaleRow, saleView } from '../sales/model'
import type { CreateSaleInput } from '../sales/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { planInvoice } from './post-invoices'
import { planPayment } from './record-payment'
import { claimExternalId } from './steps/external-id'
import { documentRef } from '../kernel/metadata'

/**
 * Workflow: a point-of-sale sale (POST /v1/sales): the sale, its invoice and (when paid at the till)
 * the payment applied to it, planned together and written in one statement: a refusal anywhere
 * writes nothing. The credit limit is checked on the invoice total, as for any invoice. Requests
 * of a tenant are planned together.
 */
export async function planSale(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, input: CreateSaleInput) {
  const method = input.payment ? await paymentMethodOf(trx, ctx, lc, input.payment.method, 'payment.method') : null
  const id = newId('sale')
  const ref = documentRef(input)
  await claimExternalId(trx, plan, ctx, 'sales', ref.external_id, customer.id)
  const invoice = await planInvoice(
    trx,
    plan,
    ctx,
    lc,
    customer,
    { customer: customer.id, issue_date: input.issue_date, lines: input.lines, exchange_rate: input.exchange_rate, memo: input.memo, credit_override: input.credit_override },
    // Paid in full at the till is no credit: suspension and credit hold do not stop it.
    { saleId: id, tendered: input.payment ? input.payment.amount - (input.payment.change_given ?? 0) : undefined },
  )
  const posted = input.payment ? paymentToPost(input.payment, invoice.total, method!.account_role) : 0
  const payment =
    input.payment && posted > 0
      ? await planPayment(
          trx,
          plan,
          ctx,
          lc,
          customer,
          {
            customer: customer.id,
            amount: posted,
            method: input.payment.method,
            reference: input.payment.reference,
            received_date: invoice.issue_date,
            exchange_rate: input.exchange_rate,
            allocations: [{ invoice: invoice.id, amount: Math.min(posted, invoice.total) }],
          },
          { saleId: id, methodParam: 'payment.method' },
        )
      : null
  const row = planSaleRow(
    plan,
    ctx,
    {
      id,
      customer_id: customer.id,
      invoice_id: invoice.id,
      payment_id: payment?.id ?? null,
      tendered_amount: payment ? input.payment!.amount : null,
      change_given: payment ? (input.payment!.change_given ?? 0) : 0,
      keep_as_credit: payment ? input.payment!.keep_as_credit === true : false,
      ...ref,
    },
    customer.locked_at,
  )
  // The invoice as the sale leaves it: settled by the payment when one was taken.
  const inv = plan.held<InvoiceRow>('invoice', invoice.id)!
  const lines = plan.held<{ line_nos: number[] }>('invoice_lines', invoice.id)!.line_nos.map((no) => plan.held<InvoiceLineRow>('invoice_line', `${invoice.id}:${no}`)!)
  const view = saleView(row, invoiceView(inv, lines, payment?.allocations ?? []), payment)
  plan.audit(ctx, { action: 'sale.created', entity_type: 'sale', entity_id: id, after: { customer: customer.id, invoice: invoice.id, payment: payment?.id ?? null, total: invoice.total } })
  plan.event(ctx, 'sale.created', view)
  return view
}

/** POST /v1/sales, batched (core/http/batch.ts). */
export function createSales(trx: Trx, items: BatchItem<CreateSaleInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planSale(trx, plan, ctx, lc, customer, input),
  })
}

/**
 * The payment a sale posts out of what was tendered: the amount less the cash handed back as
 * change. Change is cash only (a method whose account role is cash) and at most the excess over the total; an excess left after change is
 * refused unless the customer keeps it as credit (advance balance). Checked before the payment is
 * written; the invoice written before it rolls back with the request.
 */
function paymentToPost(tender: NonNullable<CreateSaleInput['payment']>, total: number, accountRole: string): number {
  const change = tender.change_given ?? 0
  const excess = Math.max(tender.amount - total, 0)
  if (change > 0 && accountRole !== 'cash') {
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

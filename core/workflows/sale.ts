import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { lockCustomer } from '../ledger/engine'
import { insertSale } from '../sales/model'
import type { CreateSaleInput } from '../sales/schemas'
import { saleView } from '../views/documents'
import { createInvoice } from './post-invoices'
import { createPayment } from './record-payment'

/** Workflow: a point-of-sale sale (invoice, and the payment taken at the till), in one transaction. */

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
  const row = await insertSale(trx, ctx, { id, customer_id: customer.id, invoice_id: invoice.id, payment_id: payment?.id ?? null })
  const view = await saleView(trx, ctx, row)
  await recordAudit(trx, ctx, { action: 'sale.created', entity_type: 'sale', entity_id: id, after: { customer: customer.id, invoice: invoice.id, payment: payment?.id ?? null, total: invoice.total } })
  await emitEvent(trx, ctx, 'sale.created', view)
  return view
}


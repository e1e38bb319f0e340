import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { CustomerState, lockCustomer } from '../ledger/engine'
import { documentTxn } from '../ledger/reads'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow } from '../payments/model'
import { getInvoice, getPayment } from '../views/documents'
import { reverseTransaction } from './reverse'

/** Workflow: void a document, the full reversal of its own sub-ledger row (and its allocations). */

/** Voids a document of the locked customer: the full reversal of its own sub-ledger row. */
export async function voidDocument(trx: Trx, ctx: RequestContext, customer: CustomerState, documentId: string, input: { posting_date?: string; reason: string }) {
  const txn = await documentTxn(trx, ctx, documentId)
  if (!txn) throw new Error(`document ${documentId} has no sub-ledger row`)
  return reverseTransaction(trx, ctx, customer, txn.id, { posting_date: input.posting_date, reason: input.reason })
}

/** POST /v1/invoices/:id/void */
export async function voidInvoice(trx: Trx, ctx: RequestContext, id: string, input: { posting_date?: string; reason: string }) {
  const customer = await lockCustomer(trx, ctx, (await getInvoiceRow(trx, ctx, id, 'id')).customer_id)
  await voidDocument(trx, ctx, customer, id, input)
  return getInvoice(trx, ctx, id)
}

/** POST /v1/payments/:id/void */
export async function voidPayment(trx: Trx, ctx: RequestContext, id: string, input: { posting_date?: string; reason: string }) {
  const customer = await lockCustomer(trx, ctx, (await getPaymentRow(trx, ctx, id, 'id')).customer_id)
  await voidDocument(trx, ctx, customer, id, input)
  return getPayment(trx, ctx, id)
}

import { AppError } from '../kernel/errors'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { ledgerContext, type CustomerState, type LedgerContext } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { documentTxn } from '../ledger/reads'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow } from '../payments/model'
import { getInvoice, getPayment } from '../views/documents'
import { holdCustomer } from './steps/locks'
import { planReversal } from './reverse'

/** Workflow: void a document, the full reversal of its own sub-ledger row (and its allocations). */

/** Plans the void of a document of the held customer. */
export async function planVoid(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  documentId: string,
  input: { posting_date?: string; reason: string },
) {
  const txn = await documentTxn(trx, ctx, documentId)
  // A document carried over by a customer merge has no transaction of its own: it is a line of the
  // merge's entry, which a void must not reverse whole.
  if (!txn) throw new AppError('document_not_voidable', undefined, { param: 'id' })
  return planReversal(trx, plan, ctx, lc, customer, txn.id, { posting_date: input.posting_date, reason: input.reason })
}

async function voidDocument(trx: Trx, ctx: RequestContext, customerId: string, documentId: string, input: { posting_date?: string; reason: string }) {
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const customer = await holdCustomer(trx, plan, ctx, customerId)
  await planVoid(trx, plan, ctx, lc, customer, documentId, input)
  await plan.write(trx)
}

/** POST /v1/invoices/:id/void */
export async function voidInvoice(trx: Trx, ctx: RequestContext, id: string, input: { posting_date?: string; reason: string }) {
  await voidDocument(trx, ctx, (await getInvoiceRow(trx, ctx, id, 'id')).customer_id, id, input)
  return getInvoice(trx, ctx, id)
}

/** POST /v1/payments/:id/void */
export async function voidPayment(trx: Trx, ctx: RequestContext, id: string, input: { posting_date?: string; reason: string }) {
  await voidDocument(trx, ctx, (await getPaymentRow(trx, ctx, id, 'id')).customer_id, id, input)
  return getPayment(trx, ctx, id)
}

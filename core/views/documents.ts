import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { page, ListQuery } from '../kernel/pagination'
import { documentTxn, documentTxnIds } from '../ledger/reads'
import { allocationsForInvoice, allocationsForSource, allocationsForSources } from '../allocations/model'
import { getInvoiceRow, invoiceLines, invoiceView } from '../invoices/model'
import { getPaymentRow, listPaymentRows, paymentView, type PaymentRow } from '../payments/model'
import { writeOffsOfPayments } from '../write-offs/model'
import { creditNoteLines, creditNoteView, getCreditNoteRow, listCreditNoteRows } from '../credit-notes/model'
import { getSaleRow, listSaleRows, saleView, type SaleRow } from '../sales/model'

/**
 * Read model: documents as the API shows them, with what other records say about them (an
 * invoice's allocations, a payment's allocations and write-off, a credit note's sub-ledger row, a
 * sale's invoice and payment). Only reads.
 */

export async function getInvoice(trx: Trx, ctx: RequestContext, id: string) {
  const row = await getInvoiceRow(trx, ctx, id)
  return invoiceView(row, await invoiceLines(trx, ctx, id), await allocationsForInvoice(trx, ctx, id))
}

export type InvoiceView = Awaited<ReturnType<typeof getInvoice>>

async function paymentViews(trx: Trx, ctx: RequestContext, rows: PaymentRow[]) {
  const ids = rows.map((r) => r.id)
  const allocations = await allocationsForSources(trx, ctx, ids)
  const writeOffs = await writeOffsOfPayments(trx, ctx, ids)
  return rows.map((r) => paymentView(r, allocations.get(r.id) ?? [], writeOffs.get(r.id) ?? null))
}

export async function getPayment(trx: Trx, ctx: RequestContext, id: string) {
  return (await paymentViews(trx, ctx, [await getPaymentRow(trx, ctx, id)]))[0]
}

export type PaymentView = Awaited<ReturnType<typeof getPayment>>

export async function listPayments(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const { rows, has_more } = await listPaymentRows(trx, ctx, q)
  return page(await paymentViews(trx, ctx, rows), has_more)
}

export async function getCreditNote(trx: Trx, ctx: RequestContext, id: string, txnId?: string | null) {
  const row = await getCreditNoteRow(trx, ctx, id)
  const txn = txnId === undefined ? ((await documentTxn(trx, ctx, id))?.id ?? null) : txnId
  return creditNoteView(row, await creditNoteLines(trx, ctx, id), txn, await allocationsForSource(trx, ctx, id))
}

export async function listCreditNotes(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string; invoice?: string }) {
  const { rows, has_more, linesOf } = await listCreditNoteRows(trx, ctx, q)
  const txns = await documentTxnIds(trx, ctx, rows.map((r) => r.id))
  return page(rows.map((r) => creditNoteView(r, linesOf(r.id), txns.get(r.id) ?? null)), has_more)
}

export async function getSaleView(trx: Trx, ctx: RequestContext, sale: SaleRow) {
  return saleView(sale, await getInvoice(trx, ctx, sale.invoice_id), sale.payment_id ? await getPayment(trx, ctx, sale.payment_id) : null)
}

export async function getSale(trx: Trx, ctx: RequestContext, id: string) {
  return getSaleView(trx, ctx, await getSaleRow(trx, ctx, id))
}

export async function listSales(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const { rows, has_more } = await listSaleRows(trx, ctx, q)
  const views = []
  for (const r of rows) views.push(await getSaleView(trx, ctx, r))
  return page(views, has_more)
}

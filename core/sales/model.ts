import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { paginate, ListQuery } from '../kernel/pagination'

/**
 * The sale record (`sales`, the only SQL on that table). Selling and cancelling are workflows
 * (core/workflows/sale.ts, cancel-sale.ts); a sale's view with its invoice and payment is in
 * core/views/documents.ts.
 */

export interface SaleRow {
  id: string
  customer_id: string
  invoice_id: string
  payment_id: string | null
  status: 'completed' | 'cancelled'
  cancelled_at: Date | null
  cancel_reason: string | null
  created_at: Date
  /** What the customer handed over (null before tenders were kept, and for sales on account). */
  tendered_amount: number | null
  change_given: number
  keep_as_credit: boolean
}

export async function getSaleRow(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<SaleRow> {
  const query = trx('sales').where({ tenant_id: ctx.tenantId, id }).first()
  const row: SaleRow | undefined = await (opts.forUpdate ? query.forUpdate() : query)
  if (!row) throw notFound('sale', id, 'id')
  return row
}

export async function listSaleRows(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('sales').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  return paginate<SaleRow>(query, q)
}

export async function insertSale(
  trx: Trx,
  ctx: RequestContext,
  s: Pick<SaleRow, 'id' | 'customer_id' | 'invoice_id' | 'payment_id' | 'tendered_amount' | 'change_given' | 'keep_as_credit'>,
): Promise<SaleRow> {
  const [row] = await trx('sales').insert({ tenant_id: ctx.tenantId, ...s, status: 'completed', created_by: ctx.keyId ?? ctx.role }).returning('*')
  return row
}

export async function markSaleCancelled(trx: Trx, ctx: RequestContext, id: string, reason: string): Promise<SaleRow> {
  const [row] = await trx('sales')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'cancelled', cancelled_at: trx.fn.now(), cancel_reason: reason })
    .returning('*')
  return row
}

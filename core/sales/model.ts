import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { paginate } from '../kernel/pagination'
import type { SaleListQuery } from './schemas'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import type { Metadata } from '../kernel/metadata'

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
  external_id: string | null
  metadata: Metadata
}

export async function getSaleRow(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<SaleRow> {
  const query = trx('sales').where({ tenant_id: ctx.tenantId, id }).first()
  const row: SaleRow | undefined = await (opts.forUpdate ? query.forUpdate() : query)
  if (!row) throw notFound('sale', id, 'id')
  return row
}

export async function listSaleRows(trx: Trx, ctx: RequestContext, q: SaleListQuery) {
  const query = trx('sales').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.external_id) query.andWhere({ external_id: q.external_id })
  return paginate<SaleRow>(query, q)
}

/** The sale as the API shows it, from its invoice's and payment's views. */
export function saleView<I, P extends { method: string; amount: number }>(sale: SaleRow, invoice: I, payment: P | null) {
  return {
    id: sale.id,
    object: 'sale' as const,
    customer: sale.customer_id,
    invoice,
    payment,
    // Sales from before tenders were kept: what was tendered is what was posted.
    tender: payment
      ? { method: payment.method, amount: sale.tendered_amount ?? payment.amount, change_given: sale.change_given, keep_as_credit: sale.keep_as_credit }
      : null,
    status: sale.status,
    cancelled_at: sale.cancelled_at ? sale.cancelled_at.toISOString() : null,
    cancel_reason: sale.cancel_reason,
    external_id: sale.external_id,
    metadata: sale.metadata,
    created: sale.created_at.toISOString(),
  }
}

export type SaleInsert = Pick<SaleRow, 'id' | 'customer_id' | 'invoice_id' | 'payment_id' | 'tendered_amount' | 'change_given' | 'keep_as_credit' | 'external_id' | 'metadata'>

export const salesTable = defineTable<Omit<SaleRow, 'created_at'> & { created_by: string }>(
  'sales',
  {
    id: 'text', customer_id: 'text', invoice_id: 'text', payment_id: 'text', status: 'text', cancelled_at: 'timestamptz', cancel_reason: 'text',
    tendered_amount: 'bigint', change_given: 'bigint', keep_as_credit: 'boolean', created_by: 'text', external_id: 'text', metadata: 'jsonb',
  },
  ['id'],
)

/** Plans a completed sale's insert; returns the row as it will read back. */
export function planSaleRow(plan: Plan, ctx: RequestContext, s: SaleInsert, createdAt: Date): SaleRow {
  const row: SaleRow = { ...s, status: 'completed', cancelled_at: null, cancel_reason: null, created_at: createdAt }
  const { created_at: _c, ...cols } = row
  plan.insert(salesTable, { ...cols, created_by: ctx.keyId ?? ctx.role })
  return row
}

/** Plans a sale's cancellation. */
export function planSaleCancelled(plan: Plan, sale: SaleRow, reason: string, at: Date): void {
  sale.status = 'cancelled'
  sale.cancelled_at = at
  sale.cancel_reason = reason
  plan.update(salesTable, { id: sale.id }, { status: 'cancelled', cancelled_at: at, cancel_reason: reason })
}

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { normalizeDecimal } from '../kernel/money'
import { applyRange, paginate } from '../kernel/pagination'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import type { PaymentListQuery, PaymentMethod } from './schemas'
import type { Metadata } from '../kernel/metadata'

/**
 * The payment record (`payments`, the only SQL on that table). Recording a payment is a workflow
 * (core/workflows/record-payment.ts).
 */

/**
 * A payment row. `unapplied_amount` is always amount − its live allocations − refunds drawn from it
 * (refund_sources) − what a partial reversal took (0 once voided): the part of the payment that
 * sits in the customer's advance balance, which is the sum over payments and credit notes.
 */
export interface PaymentRow {
  id: string
  customer_id: string
  amount: number
  currency: string
  exchange_rate: string
  received_date: string
  method: PaymentMethod
  reference: string | null
  unapplied_amount: number
  status: 'succeeded' | 'voided'
  sale_id: string | null
  journal_entry_id: string
  external_id: string | null
  metadata: Metadata
  voided_at: Date | null
  void_reason: string | null
  created_at: Date
}

export interface WriteOffRef {
  id: string
  amount: number
  invoice: string
  reason: string
}

export function paymentView(p: PaymentRow, allocations: unknown[], writeOff: WriteOffRef | null) {
  return {
    id: p.id,
    object: 'payment' as const,
    customer: p.customer_id,
    amount: p.amount,
    currency: p.currency,
    exchange_rate: normalizeDecimal(p.exchange_rate, 'exchange_rate'),
    received_date: p.received_date,
    method: p.method,
    reference: p.reference,
    unapplied_amount: p.unapplied_amount,
    status: p.status,
    sale: p.sale_id,
    allocations,
    write_off: writeOff,
    journal_entry: p.journal_entry_id,
    external_id: p.external_id,
    metadata: p.metadata,
    voided_at: p.voided_at ? p.voided_at.toISOString() : null,
    void_reason: p.void_reason,
    created: p.created_at.toISOString(),
  }
}

export async function getPaymentRow(trx: Trx, ctx: RequestContext, id: string, param?: string): Promise<PaymentRow> {
  const row = await trx('payments').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('payment', id, param)
  return row
}

export async function listPaymentRows(trx: Trx, ctx: RequestContext, q: PaymentListQuery) {
  const query = trx('payments').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.external_id) query.andWhere({ external_id: q.external_id })
  applyRange(query, q, 'received_date', 'received_date', 'date')
  return paginate<PaymentRow>(query, q)
}

export type PaymentInsert = Pick<PaymentRow, 'id' | 'customer_id' | 'amount' | 'currency' | 'exchange_rate' | 'received_date' | 'method' | 'reference' | 'unapplied_amount' | 'sale_id' | 'journal_entry_id' | 'external_id' | 'metadata'>

/** A payment's credit-source columns, locked (FOR UPDATE) when asked. */
export async function readPaymentCredit(trx: Trx, ctx: RequestContext, id: string, forUpdate: boolean) {
  const query = trx('payments')
    .where({ tenant_id: ctx.tenantId, id })
    .first('id', 'customer_id', 'currency', 'exchange_rate', 'amount', 'unapplied_amount', 'status')
  const row: Pick<PaymentRow, 'id' | 'customer_id' | 'currency' | 'exchange_rate' | 'amount' | 'unapplied_amount' | 'status'> | undefined = await (forUpdate ? query.forUpdate() : query)
  return row
}

/** The customer's live payments with unapplied credit: id and creation time. */
export async function paymentsWithCredit(trx: Trx, ctx: RequestContext, customerId: string, limit: number): Promise<{ id: string; created_at: Date }[]> {
  return trx('payments')
    .where({ tenant_id: ctx.tenantId, customer_id: customerId })
    .whereNot('status', 'voided')
    .where('unapplied_amount', '>', 0)
    .orderBy(['created_at', 'id'])
    .limit(limit)
    .select('id', 'created_at')
}

/** The columns a posting writes (the rest are server defaults). */
export const paymentsTable = defineTable<Omit<PaymentRow, 'created_at'> & { created_by: string }>(
  'payments',
  {
    id: 'text', customer_id: 'text', amount: 'bigint', currency: 'text', exchange_rate: 'numeric', received_date: 'date', method: 'text',
    reference: 'text', unapplied_amount: 'bigint', status: 'text', sale_id: 'text', journal_entry_id: 'text', voided_at: 'timestamptz',
    void_reason: 'text', created_by: 'text', external_id: 'text', metadata: 'jsonb',
  },
  ['id'],
)

/**
 * Plans a payment's insert and returns the row as it will read back (created in the transaction
 * that locked its customer, at `createdAt`).
 */
export function planPaymentRow(plan: Plan, ctx: RequestContext, p: PaymentInsert, createdAt: Date): PaymentRow {
  const row: PaymentRow = { ...p, status: 'succeeded', voided_at: null, void_reason: null, created_at: createdAt }
  plan.insert(paymentsTable, { ...p, status: 'succeeded', voided_at: null, void_reason: null, created_by: ctx.keyId ?? ctx.role })
  return row
}

/** Plans a payment's new unapplied amount (the caller keeps it in [0, amount]). */
export function planPaymentUnapplied(plan: Plan, id: string, unapplied: number): void {
  plan.update(paymentsTable, { id }, { unapplied_amount: unapplied })
}

/** Plans a payment's void: nothing left unapplied once its allocations and its credit are reversed. */
export function planPaymentVoid(plan: Plan, id: string, reason: string, at: Date): void {
  plan.update(paymentsTable, { id }, { status: 'voided', unapplied_amount: 0, voided_at: at, void_reason: reason })
}

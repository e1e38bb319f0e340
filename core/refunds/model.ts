import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { normalizeDecimal } from '../kernel/money'
import { paginate, page, ListQuery } from '../kernel/pagination'
import type { CreditSourceType } from '../allocations/schemas'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'

/**
 * The refund record (`refunds` and `refund_sources`, the only SQL on those tables). Paying credit
 * back is a workflow (core/workflows/refund.ts).
 */

export interface RefundRow {
  id: string
  customer_id: string
  amount: number
  currency: string
  exchange_rate: string
  source_type: CreditSourceType | null
  source_id: string | null
  method: string
  reason: string
  refund_date: string
  journal_entry_id: string
  created_at: Date
}

export interface RefundPart {
  source: string
  source_type: CreditSourceType
  amount: number
}

export function refundView(r: RefundRow, sources: RefundPart[]) {
  return {
    id: r.id,
    object: 'refund' as const,
    customer: r.customer_id,
    amount: r.amount,
    currency: r.currency,
    exchange_rate: normalizeDecimal(r.exchange_rate, 'exchange_rate'),
    source: r.source_id,
    source_type: r.source_type,
    sources,
    method: r.method,
    reason: r.reason,
    refund_date: r.refund_date,
    journal_entry: r.journal_entry_id,
    created: r.created_at.toISOString(),
  }
}

export type RefundInsert = Pick<RefundRow, 'id' | 'customer_id' | 'amount' | 'currency' | 'exchange_rate' | 'source_type' | 'source_id' | 'method' | 'reason' | 'refund_date' | 'journal_entry_id'>

export async function refundParts(trx: Trx, ctx: RequestContext, refundIds: string[]): Promise<Map<string, RefundPart[]>> {
  const rows: { refund_id: string; source_id: string; source_type: CreditSourceType; amount: number }[] = refundIds.length
    ? await trx('refund_sources').where({ tenant_id: ctx.tenantId }).whereIn('refund_id', refundIds).orderBy(['refund_id', 'line_no'])
    : []
  const out = new Map<string, RefundPart[]>(refundIds.map((id) => [id, []]))
  for (const r of rows) out.get(r.refund_id)!.push({ source: r.source_id, source_type: r.source_type, amount: r.amount })
  return out
}

export async function getRefund(trx: Trx, ctx: RequestContext, id: string) {
  const row = await trx('refunds').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('refund', id)
  return refundView(row, (await refundParts(trx, ctx, [id])).get(id)!)
}

export async function listRefunds(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('refunds').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  const { rows, has_more } = await paginate<RefundRow>(query, q)
  const parts = await refundParts(trx, ctx, rows.map((r) => r.id))
  return page(rows.map((r) => refundView(r, parts.get(r.id)!)), has_more)
}

export const refundsTable = defineTable<RefundInsert & { created_by: string }>(
  'refunds',
  {
    id: 'text', customer_id: 'text', amount: 'bigint', currency: 'text', exchange_rate: 'numeric', source_type: 'text', source_id: 'text',
    method: 'text', reason: 'text', refund_date: 'date', journal_entry_id: 'text', created_by: 'text',
  },
  ['id'],
)

export const refundSourcesTable = defineTable<{ refund_id: string; line_no: number; source_type: CreditSourceType; source_id: string; amount: number }>(
  'refund_sources',
  { refund_id: 'text', line_no: 'smallint', source_type: 'text', source_id: 'text', amount: 'bigint' },
  ['refund_id', 'line_no'],
)

/** Plans a refund's insert and the credit it drew, per source in drawing order; returns the row as it will read back. */
export function planRefundRow(plan: Plan, ctx: RequestContext, r: RefundInsert, sources: RefundPart[], createdAt: Date): RefundRow {
  plan.insert(refundsTable, { ...r, created_by: ctx.keyId ?? ctx.role })
  sources.forEach((p, i) => plan.insert(refundSourcesTable, { refund_id: r.id, line_no: i + 1, source_type: p.source_type, source_id: p.source, amount: p.amount }))
  return { ...r, created_at: createdAt }
}

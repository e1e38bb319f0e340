import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { documentTxn, documentTxnIds } from '../ledger/reads'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'

/**
 * The adjustment record (`adjustments`, the only SQL on that table). Posting one is a workflow
 * (core/workflows/adjust.ts).
 */

export interface AdjustmentRow {
  id: string
  customer_id: string
  amount: number
  currency: string
  reason: string
  invoice_id: string | null
  credit_note_id: string | null
  adjustment_date: string
  journal_entry_id: string
  created_at: Date
}

export function adjustmentView(a: AdjustmentRow, txnId: string | null) {
  return {
    id: a.id,
    object: 'adjustment' as const,
    customer: a.customer_id,
    amount: a.amount,
    currency: a.currency,
    reason: a.reason,
    posting_date: a.adjustment_date,
    debit_note: a.invoice_id,
    credit_note: a.credit_note_id,
    journal_entry: a.journal_entry_id,
    transaction: txnId,
    created: a.created_at.toISOString(),
  }
}

export type AdjustmentInsert = Pick<AdjustmentRow, 'id' | 'customer_id' | 'amount' | 'currency' | 'reason' | 'invoice_id' | 'credit_note_id' | 'adjustment_date' | 'journal_entry_id'>

export async function getAdjustment(trx: Trx, ctx: RequestContext, id: string) {
  const row: AdjustmentRow | undefined = await trx('adjustments').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('adjustment', id)
  return adjustmentView(row, (await documentTxn(trx, ctx, (row.invoice_id ?? row.credit_note_id)!))?.id ?? null)
}

export async function listAdjustments(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('adjustments').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  const { rows, has_more } = await paginate<AdjustmentRow>(query, q)
  const txns = await documentTxnIds(trx, ctx, rows.map((r) => (r.invoice_id ?? r.credit_note_id)!))
  return page(rows.map((r) => adjustmentView(r, txns.get((r.invoice_id ?? r.credit_note_id)!) ?? null)), has_more)
}

export const adjustmentsTable = defineTable<AdjustmentInsert & { created_by: string }>(
  'adjustments',
  {
    id: 'text', customer_id: 'text', amount: 'bigint', currency: 'text', reason: 'text', invoice_id: 'text', credit_note_id: 'text',
    adjustment_date: 'date', journal_entry_id: 'text', created_by: 'text',
  },
  ['id'],
)

/** Plans an adjustment's insert; returns the row as it will read back. */
export function planAdjustmentRow(plan: Plan, ctx: RequestContext, a: AdjustmentInsert, createdAt: Date): AdjustmentRow {
  plan.insert(adjustmentsTable, { ...a, created_by: ctx.keyId ?? ctx.role })
  return { ...a, created_at: createdAt }
}

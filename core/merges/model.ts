import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'

/** The merge record (`merges`: the only SQL on it). Merging is a workflow (core/workflows/merge-customers.ts). */

export interface Moved {
  invoices: { from: string; to: string; amount: number }[]
  credits: { from: string; to: string; amount: number }[]
  pending_balance: number
  advance_balance: number
}

export interface MergeRow {
  id: string
  source_id: string
  target_id: string
  reason: string
  journal_entry_id: string | null
  moved: Moved
  created_by: string
  created_at: Date
}

export const mergesTable = defineTable<Omit<MergeRow, 'created_at'>>(
  'merges',
  { id: 'text', source_id: 'text', target_id: 'text', reason: 'text', journal_entry_id: 'text', moved: 'jsonb', created_by: 'text' },
  ['id'],
)

export function mergeView(m: MergeRow) {
  return {
    id: m.id,
    object: 'customer_merge' as const,
    source: m.source_id,
    target: m.target_id,
    reason: m.reason,
    journal_entry: m.journal_entry_id,
    moved: m.moved,
    created_by: m.created_by,
    created: m.created_at.toISOString(),
  }
}

export type MergeView = ReturnType<typeof mergeView>

export function planMergeRow(plan: Plan, ctx: RequestContext, m: Omit<MergeRow, 'created_by' | 'created_at'>, at: Date): MergeView {
  const row: MergeRow = { ...m, created_by: ctx.keyId ?? ctx.role, created_at: at }
  const { created_at: _c, ...cols } = row
  plan.insert(mergesTable, cols)
  return mergeView(row)
}

export async function getMerge(trx: Trx, ctx: RequestContext, id: string): Promise<MergeView> {
  const row = await trx('merges').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('merge', id)
  return mergeView(row)
}

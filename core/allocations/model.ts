import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import type { CreditSourceType } from './schemas'

/**
 * The allocation record: which payment or credit note paid which invoice (`allocations`, the only
 * SQL on that table). Applying and un-applying credit are workflows (core/workflows/apply-credit.ts,
 * unapply.ts).
 */

export type { CreditSourceType }

export interface AllocationRow {
  id: string
  customer_id: string
  source_type: CreditSourceType
  source_id: string
  invoice_id: string
  amount: number
  base_amount: number
  effective_date: string
  status: 'applied' | 'reversed'
  journal_entry_id: string | null
  reversal_entry_id: string | null
  reversed_at: Date | null
  reverse_reason: string | null
  created_at: Date
}

export function allocationView(a: AllocationRow) {
  return {
    id: a.id,
    object: 'allocation' as const,
    source: a.source_id,
    source_type: a.source_type,
    invoice: a.invoice_id,
    customer: a.customer_id,
    amount: a.amount,
    effective_date: a.effective_date,
    status: a.status,
    journal_entry: a.journal_entry_id,
    reversal_entry: a.reversal_entry_id,
    reversed_at: a.reversed_at ? a.reversed_at.toISOString() : null,
    reverse_reason: a.reverse_reason,
    created: a.created_at.toISOString(),
  }
}

export type AllocationView = ReturnType<typeof allocationView>

export async function allocationsForInvoice(trx: Trx, ctx: RequestContext, invoiceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, invoice_id: invoiceId }).orderBy('id')
  return rows.map(allocationView)
}

export async function allocationsForSource(trx: Trx, ctx: RequestContext, sourceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, source_id: sourceId }).orderBy('id')
  return rows.map(allocationView)
}

/** Allocations of many sources in one query, grouped by source id. */
export async function allocationsForSources(trx: Trx, ctx: RequestContext, sourceIds: string[]): Promise<Map<string, AllocationView[]>> {
  const rows: AllocationRow[] = sourceIds.length
    ? await trx('allocations').where({ tenant_id: ctx.tenantId }).whereIn('source_id', sourceIds).orderBy('id')
    : []
  const out = new Map<string, AllocationView[]>(sourceIds.map((id) => [id, []]))
  for (const r of rows) out.get(r.source_id)!.push(allocationView(r))
  return out
}

export async function getAllocationRow(trx: Trx, ctx: RequestContext, id: string): Promise<AllocationRow> {
  const row: AllocationRow | undefined = await trx('allocations').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('allocation', id)
  return row
}

export async function getAllocation(trx: Trx, ctx: RequestContext, id: string) {
  return allocationView(await getAllocationRow(trx, ctx, id))
}

/** Locks one allocation of the (already locked) customer; another customer's answers 404. */
export async function lockAllocation(trx: Trx, ctx: RequestContext, customerId: string, id: string): Promise<AllocationRow> {
  const row: AllocationRow | undefined = await trx('allocations').where({ tenant_id: ctx.tenantId, id, customer_id: customerId }).forUpdate().first()
  if (!row) throw notFound('allocation', id)
  return row
}

/** Live (applied) allocations' ids of an invoice or a credit source, in id order. */
export async function liveAllocationIds(trx: Trx, ctx: RequestContext, by: { invoice_id: string } | { source_id: string }): Promise<string[]> {
  return trx('allocations').where({ tenant_id: ctx.tenantId, status: 'applied', ...by }).orderBy('id').pluck('id')
}

export type AllocationInsert = Pick<AllocationRow, 'id' | 'customer_id' | 'source_type' | 'source_id' | 'invoice_id' | 'amount' | 'base_amount' | 'effective_date' | 'journal_entry_id'>

export const allocationsTable = defineTable<Omit<AllocationRow, 'created_at'> & { created_by: string }>(
  'allocations',
  {
    id: 'text', customer_id: 'text', source_type: 'text', source_id: 'text', invoice_id: 'text', amount: 'bigint', base_amount: 'bigint',
    effective_date: 'date', status: 'text', journal_entry_id: 'text', reversal_entry_id: 'text', reversed_at: 'timestamptz',
    reverse_reason: 'text', created_by: 'text',
  },
  ['id'],
)

/** Plans a live allocation's insert; returns the row as it will read back. */
export function planAllocationRow(plan: Plan, ctx: RequestContext, a: AllocationInsert, createdAt: Date): AllocationRow {
  const row: AllocationRow = { ...a, status: 'applied', reversal_entry_id: null, reversed_at: null, reverse_reason: null, created_at: createdAt }
  const { created_at: _c, ...cols } = row
  plan.insert(allocationsTable, { ...cols, created_by: ctx.keyId ?? ctx.role })
  return row
}

/** Plans an allocation's reversal; returns the row as it will read back. */
export function planAllocationReversed(plan: Plan, alc: AllocationRow, input: { reason: string; reversal_entry_id: string; at: Date }): AllocationRow {
  alc.status = 'reversed'
  alc.reversed_at = input.at
  alc.reverse_reason = input.reason
  alc.reversal_entry_id = input.reversal_entry_id
  plan.update(allocationsTable, { id: alc.id }, { status: 'reversed', reversed_at: input.at, reverse_reason: input.reason, reversal_entry_id: input.reversal_entry_id })
  return alc
}

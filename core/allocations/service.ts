import type { Trx } from '../db/knex'
import type { RequestContext } from '../http/context'

export interface AllocationRow {
  id: string
  customer_id: string
  source_type: 'payment' | 'credit_note'
  source_id: string
  invoice_id: string
  amount: number
  base_amount: number
  effective_date: string
  status: 'applied' | 'reversed'
  journal_entry_id: string | null
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
    reversed_at: a.reversed_at ? a.reversed_at.toISOString() : null,
    reverse_reason: a.reverse_reason,
    created: a.created_at.toISOString(),
  }
}

export async function allocationsForInvoice(trx: Trx, ctx: RequestContext, invoiceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, invoice_id: invoiceId }).orderBy('id')
  return rows.map(allocationView)
}

export async function allocationsForSource(trx: Trx, ctx: RequestContext, sourceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, source_id: sourceId }).orderBy('id')
  return rows.map(allocationView)
}

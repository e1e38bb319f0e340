import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { documentTxn, documentTxnIds } from '../ledger/reads'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'

/**
 * The write-off record (`write_offs`, the only SQL on that table). Writing off is a workflow
 * (core/workflows/write-off.ts).
 */

export interface WriteOffRow {
  id: string
  customer_id: string
  invoice_id: string
  payment_id: string | null
  amount: number
  base_amount: number
  reason: string
  write_off_date: string
  journal_entry_id: string
  created_at: Date
}

export function writeOffView(w: WriteOffRow, txnId: string | null) {
  return {
    id: w.id,
    object: 'write_off' as const,
    customer: w.customer_id,
    invoice: w.invoice_id,
    payment: w.payment_id,
    amount: w.amount,
    reason: w.reason,
    posting_date: w.write_off_date,
    journal_entry: w.journal_entry_id,
    transaction: txnId,
    created: w.created_at.toISOString(),
  }
}

export type WriteOffInsert = Pick<WriteOffRow, 'id' | 'customer_id' | 'invoice_id' | 'payment_id' | 'amount' | 'base_amount' | 'reason' | 'write_off_date' | 'journal_entry_id'>

/** The write-off each payment made (a short payment's `write_off`), by payment id. */
export async function writeOffsOfPayments(trx: Trx, ctx: RequestContext, paymentIds: string[]): Promise<Map<string, { id: string; amount: number; invoice: string; reason: string }>> {
  const rows: { payment_id: string; id: string; amount: number; invoice_id: string; reason: string }[] = paymentIds.length
    ? await trx('write_offs').where({ tenant_id: ctx.tenantId }).whereIn('payment_id', paymentIds).select('id', 'amount', 'invoice_id', 'reason', 'payment_id')
    : []
  return new Map(rows.map((r) => [r.payment_id, { id: r.id, amount: r.amount, invoice: r.invoice_id, reason: r.reason }]))
}

export async function getWriteOffRow(trx: Trx, ctx: RequestContext, id: string): Promise<WriteOffRow> {
  const row = await trx('write_offs').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('write-off', id)
  return row
}

export async function getWriteOff(trx: Trx, ctx: RequestContext, id: string) {
  const row = await getWriteOffRow(trx, ctx, id)
  return writeOffView(row, (await documentTxn(trx, ctx, id))?.id ?? null)
}

export async function listWriteOffs(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string; invoice?: string }) {
  const query = trx('write_offs').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.invoice) query.andWhere({ invoice_id: q.invoice })
  const { rows, has_more } = await paginate<WriteOffRow>(query, q)
  const txns = await documentTxnIds(trx, ctx, rows.map((r) => r.id))
  return page(rows.map((r) => writeOffView(r, txns.get(r.id) ?? null)), has_more)
}

export const writeOffsTable = defineTable<WriteOffInsert & { created_by: string }>(
  'write_offs',
  {
    id: 'text', customer_id: 'text', invoice_id: 'text', payment_id: 'text', amount: 'bigint', base_amount: 'bigint', reason: 'text',
    write_off_date: 'date', journal_entry_id: 'text', created_by: 'text',
  },
  ['id'],
)

/** Plans a write-off's insert; returns the row as it will read back. */
export function planWriteOffRow(plan: Plan, ctx: RequestContext, w: WriteOffInsert, createdAt: Date): WriteOffRow {
  plan.insert(writeOffsTable, { ...w, created_by: ctx.keyId ?? ctx.role })
  return { ...w, created_at: createdAt }
}

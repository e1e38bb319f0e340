import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { selectTransactions, type CustomerTransactionRow } from '../ledger/reads'

/**
 * Sub-ledger lookups for documents and reversals. `customer_transactions` is append-only: what a
 * reversal undid is never stored on the row it reverses, it is the sum of the rows pointing at it.
 */

/** The document's own (non-reversal) sub-ledger row, e.g. the `invoice` row of an invoice. */
export async function documentTxn(trx: Trx, ctx: RequestContext, sourceId: string): Promise<CustomerTransactionRow | undefined> {
  return selectTransactions(trx, ctx).where({ 't.source_id': sourceId }).whereNot({ 't.type': 'reversal' }).orderBy('t.id').first()
}

/** Document id → the id of its own sub-ledger row, for lists. */
export async function documentTxnIds(trx: Trx, ctx: RequestContext, sourceIds: string[]): Promise<Map<string, string>> {
  if (!sourceIds.length) return new Map()
  const rows: { id: string; source_id: string }[] = await trx('customer_transactions')
    .where({ tenant_id: ctx.tenantId })
    .whereIn('source_id', sourceIds)
    .whereNot({ type: 'reversal' })
    .orderBy('id', 'desc')
    .select('id', 'source_id')
  return new Map(rows.map((r) => [r.source_id, r.id]))
}

/** One sub-ledger row with the sum of the reversals pointing at it (read it under the customer lock to rely on that sum). */
export async function getTxn(trx: Trx, ctx: RequestContext, id: string): Promise<CustomerTransactionRow> {
  const row = await selectTransactions(trx, ctx).where({ 't.id': id }).first()
  if (!row) throw notFound('transaction', id, 'id')
  return row
}

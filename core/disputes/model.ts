import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import type { DisputeStatus, DisputeType } from './schemas'

/**
 * The dispute record (`disputes`, `dispute_evidence`: the only SQL on those tables). Opening,
 * charging back and resolving are workflows (core/workflows/dispute.ts).
 */

export interface Reopened {
  invoice: string
  amount: number
}

export interface DisputeRow {
  id: string
  customer_id: string
  type: DisputeType
  status: DisputeStatus
  payment_id: string | null
  invoice_id: string | null
  currency: string
  amount: number
  base_amount: number
  reason: string
  reference: string | null
  resolution: string | null
  chargeback_entry_id: string | null
  outcome_entry_id: string | null
  reopened: Reopened[]
  refund_id: string | null
  created_by: string
  submitted_at: Date | null
  submitted_by: string | null
  resolved_by: string | null
  resolved_at: Date | null
  created_at: Date
}

export interface EvidenceRow {
  id: string
  dispute_id: string
  customer_id: string
  filename: string
  content_type: string
  size: number
  sha256: string
  created_by: string
  created_at: Date
}

export const disputesTable = defineTable<
  Pick<DisputeRow, 'id' | 'customer_id' | 'type' | 'status' | 'payment_id' | 'invoice_id' | 'currency' | 'amount' | 'base_amount' | 'reason' | 'reference' | 'resolution' | 'chargeback_entry_id' | 'outcome_entry_id' | 'created_by' | 'resolved_by'> & {
    reopened: Reopened[]
    resolved_at: string
  }
>(
  'disputes',
  {
    id: 'text', customer_id: 'text', type: 'text', status: 'text', payment_id: 'text', invoice_id: 'text', currency: 'text', amount: 'bigint',
    base_amount: 'bigint', reason: 'text', reference: 'text', resolution: 'text', chargeback_entry_id: 'text', outcome_entry_id: 'text',
    reopened: 'jsonb', created_by: 'text', resolved_by: 'text', resolved_at: 'timestamptz',
  },
  ['id'],
)

export function evidenceView(e: EvidenceRow) {
  return {
    id: e.id,
    object: 'dispute_evidence' as const,
    dispute: e.dispute_id,
    filename: e.filename,
    size: e.size,
    sha256: e.sha256,
    content_type: e.content_type,
    created: e.created_at.toISOString(),
  }
}

export function disputeView(d: DisputeRow, evidence: EvidenceRow[]) {
  return {
    id: d.id,
    object: 'dispute' as const,
    type: d.type,
    status: d.status,
    customer: d.customer_id,
    payment: d.payment_id,
    invoice: d.invoice_id,
    currency: d.currency,
    amount: Number(d.amount),
    base_amount: Number(d.base_amount),
    reason: d.reason,
    reference: d.reference,
    resolution: d.resolution,
    chargeback_entry: d.chargeback_entry_id,
    outcome_entry: d.outcome_entry_id,
    reopened: d.reopened,
    refund: d.refund_id,
    evidence: evidence.map(evidenceView),
    created_by: d.created_by,
    submitted: d.submitted_at?.toISOString() ?? null,
    resolved: d.resolved_at?.toISOString() ?? null,
    resolved_by: d.resolved_by,
    created: d.created_at.toISOString(),
  }
}

export type DisputeView = ReturnType<typeof disputeView>

const EVIDENCE_COLUMNS = ['id', 'dispute_id', 'customer_id', 'filename', 'content_type', 'size', 'sha256', 'created_by', 'created_at'] as const

async function evidenceOf(trx: Trx, ctx: RequestContext, disputeIds: string[]): Promise<Map<string, EvidenceRow[]>> {
  const rows: EvidenceRow[] = disputeIds.length
    ? await trx('dispute_evidence').where({ tenant_id: ctx.tenantId }).whereIn('dispute_id', disputeIds).orderBy('id').select(...EVIDENCE_COLUMNS)
    : []
  const out = new Map<string, EvidenceRow[]>()
  for (const r of rows) out.set(r.dispute_id, [...(out.get(r.dispute_id) ?? []), r])
  return out
}

/** A dispute as the key sees it (404: missing, another tenant's, or a customer the key does not see). */
export async function getDisputeRow(trx: Trx, ctx: RequestContext, id: string, param = 'id'): Promise<DisputeRow> {
  const row = await trx('disputes').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('dispute', id, param)
  return row
}

/** The dispute under its row lock. */
export async function lockDispute(trx: Trx, ctx: RequestContext, id: string): Promise<DisputeRow> {
  const row = await trx('disputes').where({ tenant_id: ctx.tenantId, id }).forUpdate().first()
  if (!row) throw notFound('dispute', id, 'id')
  return row
}

export async function getDispute(trx: Trx, ctx: RequestContext, id: string): Promise<DisputeView> {
  const row = await getDisputeRow(trx, ctx, id)
  return disputeView(row, (await evidenceOf(trx, ctx, [id])).get(id) ?? [])
}

export async function listDisputes(trx: Trx, ctx: RequestContext, q: ListQuery & { status?: DisputeStatus; customer?: string; payment?: string; invoice?: string }) {
  const query = trx('disputes').where({ tenant_id: ctx.tenantId })
  if (q.status) query.andWhere({ status: q.status })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.payment) query.andWhere({ payment_id: q.payment })
  if (q.invoice) query.andWhere({ invoice_id: q.invoice })
  const { rows, has_more } = await paginate<DisputeRow>(query, q)
  const evidence = await evidenceOf(trx, ctx, rows.map((r) => r.id))
  return page(rows.map((r) => disputeView(r, evidence.get(r.id) ?? [])), has_more)
}

/** What earlier chargebacks of a payment still hold (open, under review or lost; a won one gave it back). */
export async function chargedBack(trx: Trx, ctx: RequestContext, paymentId: string): Promise<number> {
  const row = await trx('disputes')
    .where({ tenant_id: ctx.tenantId, payment_id: paymentId, type: 'chargeback' })
    .whereIn('status', ['open', 'under_review', 'lost'])
    .sum({ n: 'amount' })
    .first()
  return Number(row?.n ?? 0)
}

/** How many disputes of the customer are still open or under review. */
export async function openDisputeCount(trx: Trx, ctx: RequestContext, customerId: string): Promise<number> {
  const row = await trx('disputes').where({ tenant_id: ctx.tenantId, customer_id: customerId }).whereIn('status', ['open', 'under_review']).count({ n: '*' }).first()
  return Number(row?.n ?? 0)
}

/** Plans a new dispute row. */
export function planDisputeRow(
  plan: Plan,
  ctx: RequestContext,
  d: Pick<DisputeRow, 'id' | 'customer_id' | 'type' | 'payment_id' | 'invoice_id' | 'currency' | 'amount' | 'base_amount' | 'reason' | 'reference' | 'chargeback_entry_id' | 'reopened'>,
): void {
  plan.insert(disputesTable, { ...d, status: 'open', created_by: ctx.keyId ?? ctx.role })
}

/** Plans the dispute's resolution. */
export function planDisputeResolved(plan: Plan, ctx: RequestContext, id: string, r: { status: DisputeStatus; resolution: string; outcome_entry_id: string | null }, at: Date): void {
  plan.update(disputesTable, { id }, { ...r, resolved_by: ctx.keyId ?? ctx.role, resolved_at: at.toISOString() }, { touch: true })
}

/** Submits an open dispute's evidence for review (`under_review`). */
export async function markSubmitted(trx: Trx, ctx: RequestContext, id: string): Promise<void> {
  await trx('disputes')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'under_review', submitted_at: trx.fn.now(), submitted_by: ctx.keyId ?? ctx.role, updated_at: trx.fn.now() })
}

/** Records the refund (or the approval request holding it) an accepted refund request made. */
export async function setDisputeRefund(trx: Trx, ctx: RequestContext, id: string, refundId: string): Promise<void> {
  await trx('disputes').where({ tenant_id: ctx.tenantId, id }).update({ refund_id: refundId, updated_at: trx.fn.now() })
}

/** Stores a file as evidence of the dispute; the same file (by SHA-256) again returns the first. */
export async function addEvidence(
  trx: Trx,
  ctx: RequestContext,
  e: Pick<EvidenceRow, 'id' | 'dispute_id' | 'customer_id' | 'filename' | 'content_type' | 'size' | 'sha256'> & { content: Buffer },
): Promise<{ row: EvidenceRow; created: boolean }> {
  const inserted: EvidenceRow[] = await trx('dispute_evidence')
    .insert({ tenant_id: ctx.tenantId, ...e, created_by: ctx.keyId ?? ctx.role })
    .onConflict(['tenant_id', 'dispute_id', 'sha256'])
    .ignore()
    .returning(EVIDENCE_COLUMNS)
  if (inserted.length) return { row: inserted[0], created: true }
  const row = await trx('dispute_evidence').where({ tenant_id: ctx.tenantId, dispute_id: e.dispute_id, sha256: e.sha256 }).first(...EVIDENCE_COLUMNS)
  return { row, created: false }
}

/** An evidence file with its content (404 unless it belongs to the dispute). */
export async function getEvidenceContent(trx: Trx, ctx: RequestContext, disputeId: string, id: string): Promise<EvidenceRow & { content: Buffer }> {
  const row = await trx('dispute_evidence').where({ tenant_id: ctx.tenantId, dispute_id: disputeId, id }).first()
  if (!row) throw notFound('evidence', id, 'evidence_id')
  return row
}

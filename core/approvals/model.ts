import type { Trx } from '../kernel/db/knex'
import { can } from '../kernel/permissions'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import type { ApprovalActionName, ApprovalPayload, ApprovalStatus } from './schemas'

/**
 * The approval-request record (`approval_requests`, the only SQL on it). Holding and running the
 * actions is a workflow (core/workflows/approvals.ts).
 */

/** How long a request waits for a decision. */
export const APPROVAL_TTL_DAYS = 7

interface ApprovalRow {
  id: string
  action: ApprovalActionName
  status: Exclude<ApprovalStatus, 'expired'>
  customer_id: string | null
  amount: number
  base_amount: number
  currency: string
  payload: ApprovalPayload
  requested_by: string
  requested_user: string | null
  decided_by: string | null
  decided_user: string | null
  decided_at: Date | null
  reason: string | null
  result: unknown
  error: { code: string; message: string; param?: string } | null
  expires_at: Date
  created_at: Date
  /** Computed by the query: pending past expires_at. */
  expired: boolean
}

export function approvalView(r: ApprovalRow) {
  return {
    id: r.id,
    object: 'approval_request' as const,
    status: (r.status === 'pending' && r.expired ? 'expired' : r.status) as ApprovalStatus,
    action: r.action,
    customer: r.customer_id,
    amount: r.amount,
    currency: r.currency,
    base_amount: r.base_amount,
    payload: r.payload,
    requested_by: r.requested_by,
    requested_user: r.requested_user,
    decided_by: r.decided_by,
    decided_user: r.decided_user,
    decided_at: r.decided_at ? r.decided_at.toISOString() : null,
    reason: r.reason,
    result: r.result ?? null,
    error: r.error,
    expires_at: r.expires_at.toISOString(),
    created: r.created_at.toISOString(),
  }
}

export type ApprovalView = ReturnType<typeof approvalView>

/** The requests the key may read: every one for an approver, else only those it made itself. */
function select(trx: Trx, ctx: RequestContext) {
  const query = trx('approval_requests').where({ tenant_id: ctx.tenantId }).select('*', trx.raw('(status = ? and expires_at <= now()) as expired', ['pending']))
  return can(ctx.access, 'approvals.approve') ? query : query.where({ requested_by: ctx.keyId ?? ctx.role })
}

export interface NewApprovalRequest {
  action: ApprovalActionName
  customer_id: string | null
  amount: number
  base_amount: number
  currency: string
  payload: ApprovalPayload
}

export async function insertApprovalRequest(trx: Trx, ctx: RequestContext, input: NewApprovalRequest): Promise<ApprovalView> {
  const id = newId('apr')
  const reason = typeof input.payload.body.reason === 'string' ? input.payload.body.reason : null
  await trx('approval_requests').insert({
    tenant_id: ctx.tenantId,
    id,
    action: input.action,
    customer_id: input.customer_id,
    amount: input.amount,
    base_amount: input.base_amount,
    currency: input.currency,
    payload: JSON.stringify(input.payload),
    requested_by: ctx.keyId ?? ctx.role,
    requested_user: ctx.user,
    requested_reason: reason,
    expires_at: trx.raw(`now() + make_interval(days => ?)`, [APPROVAL_TTL_DAYS]),
  })
  return getApprovalRequest(trx, ctx, id)
}

export async function getApprovalRequest(trx: Trx, ctx: RequestContext, id: string): Promise<ApprovalView> {
  const row: ApprovalRow | undefined = await select(trx, ctx).where({ id }).first()
  if (!row) throw notFound('approval request', id, 'id')
  return approvalView(row)
}

/** The request under a row lock: concurrent decisions on one request queue here, so it runs once. */
export async function lockApprovalRequest(trx: Trx, ctx: RequestContext, id: string): Promise<ApprovalView> {
  const row: ApprovalRow | undefined = await select(trx, ctx).where({ id }).forUpdate().first()
  if (!row) throw notFound('approval request', id, 'id')
  return approvalView(row)
}

export async function listApprovalRequests(trx: Trx, ctx: RequestContext, q: ListQuery & { status?: ApprovalStatus; customer?: string }) {
  const query = select(trx, ctx)
  if (q.status === 'expired') query.where({ status: 'pending' }).whereRaw('expires_at <= now()')
  else if (q.status === 'pending') query.where({ status: 'pending' }).whereRaw('expires_at > now()')
  else if (q.status) query.where({ status: q.status })
  if (q.customer) query.where({ customer_id: q.customer })
  const { rows, has_more } = await paginate<ApprovalRow>(query, q)
  return page(rows.map(approvalView), has_more)
}

export interface ApprovalDecision {
  status: 'approved' | 'rejected' | 'failed'
  reason: string | null
  result?: unknown
  error?: { code: string; message: string; param?: string } | null
}

/** Records the decision on a locked, pending request. */
export async function decideApprovalRequest(trx: Trx, ctx: RequestContext, id: string, d: ApprovalDecision): Promise<ApprovalView> {
  await trx('approval_requests')
    .where({ tenant_id: ctx.tenantId, id, status: 'pending' })
    .update({
      status: d.status,
      decided_by: ctx.keyId ?? ctx.role,
      decided_user: ctx.user,
      decided_at: trx.fn.now(),
      reason: d.reason,
      result: d.result === undefined ? null : JSON.stringify(d.result),
      error: d.error ? JSON.stringify(d.error) : null,
      updated_at: trx.fn.now(),
    })
  return getApprovalRequest(trx, ctx, id)
}

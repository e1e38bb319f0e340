import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import type { CreditLimitRequestStatus } from './schemas'

/** The credit-limit request record (`credit_limit_requests`, the only SQL on it). */

interface RequestRow {
  id: string
  customer_id: string
  status: CreditLimitRequestStatus
  kind: 'credit_limit' | 'temporary_credit_limit'
  from_limit: number | null
  to_limit: number
  expires_on: string | null
  reason: string
  requested_by: string
  requested_user: string | null
  decided_by: string | null
  decided_user: string | null
  decision_reason: string | null
  decided_at: Date | null
  created_at: Date
}

export function creditLimitRequestView(r: RequestRow) {
  return {
    id: r.id,
    object: 'credit_limit_request' as const,
    status: r.status,
    customer: r.customer_id,
    kind: r.kind,
    from: r.from_limit as number | null | undefined,
    to: r.to_limit,
    expires_on: r.expires_on,
    reason: r.reason,
    requested_by: r.requested_by,
    requested_user: r.requested_user,
    decided_by: r.decided_by,
    decided_user: r.decided_user,
    decision_reason: r.decision_reason,
    decided_at: r.decided_at ? r.decided_at.toISOString() : null,
    created: r.created_at.toISOString(),
  }
}

export type CreditLimitRequestView = ReturnType<typeof creditLimitRequestView>

export interface NewCreditLimitRequest {
  customer_id: string
  kind: RequestRow['kind']
  from_limit: number | null
  to_limit: number
  expires_on: string | null
  reason: string
  /** Applied at once (a decrease, or an increase its requester may approve): decided by the requester. */
  approved: boolean
}

export async function insertCreditLimitRequest(trx: Trx, ctx: RequestContext, input: NewCreditLimitRequest): Promise<CreditLimitRequestView> {
  const { approved, ...fields } = input
  const actor = ctx.keyId ?? ctx.role
  const [row]: RequestRow[] = await trx('credit_limit_requests')
    .insert({
      tenant_id: ctx.tenantId,
      id: newId('clr'),
      ...fields,
      status: approved ? 'approved' : 'pending',
      requested_by: actor,
      requested_user: ctx.user,
      ...(approved ? { decided_by: actor, decided_user: ctx.user, decided_at: trx.fn.now() } : {}),
    })
    .returning('*')
  return creditLimitRequestView(row)
}

export async function getCreditLimitRequest(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<CreditLimitRequestView> {
  const q = trx('credit_limit_requests').where({ tenant_id: ctx.tenantId, id })
  if (opts.forUpdate) q.forUpdate()
  const row: RequestRow | undefined = await q.first()
  if (!row) throw notFound('credit-limit request', id, 'id')
  return creditLimitRequestView(row)
}

export async function listCreditLimitRequests(trx: Trx, ctx: RequestContext, q: ListQuery & { status?: CreditLimitRequestStatus; customer?: string }) {
  const query = trx('credit_limit_requests').where({ tenant_id: ctx.tenantId })
  if (q.status) query.where({ status: q.status })
  if (q.customer) query.where({ customer_id: q.customer })
  const { rows, has_more } = await paginate<RequestRow>(query, q)
  return page(rows.map(creditLimitRequestView), has_more)
}

/** Records the decision on a pending request (held by getCreditLimitRequest forUpdate). */
export async function decideCreditLimitRequest(trx: Trx, ctx: RequestContext, id: string, status: 'approved' | 'rejected', reason: string | null): Promise<CreditLimitRequestView> {
  const [row]: RequestRow[] = await trx('credit_limit_requests')
    .where({ tenant_id: ctx.tenantId, id, status: 'pending' })
    .update({ status, decided_by: ctx.keyId ?? ctx.role, decided_user: ctx.user, decision_reason: reason, decided_at: trx.fn.now() })
    .returning('*')
  return creditLimitRequestView(row)
}

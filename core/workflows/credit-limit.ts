import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { can } from '../kernel/permissions'
import { ledgerContext } from '../ledger/engine'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { approvalSettings } from '../../tenants/settings'
import { lockCreditLimits, setCreditLimits, type CreditLimits } from '../customers/credit-limit-history'
import { decideCreditLimitRequest, getCreditLimitRequest, insertCreditLimitRequest, type CreditLimitRequestView } from '../credit-limits/model'
import type { CreateCreditLimitRequestInput } from '../credit-limits/schemas'

/**
 * Workflow: credit-limit requests (API.md "Credit score and credit limits"). A decrease applies at
 * once; an increase waits for a different key with `credit_limits.approve` — unless the tenant's
 * `approvals.credit_limit_increase` is false and the requester itself holds that permission. With
 * `expires_on` the request is for a temporary limit. Every applied change lands in the customer's
 * credit-limit history with source `request`.
 */

/** The limit a request changes, as it stands, and whether the new one raises what the customer may owe. */
function compare(limits: CreditLimits, kind: 'credit_limit' | 'temporary_credit_limit', to: number) {
  const from = kind === 'credit_limit' ? limits.credit_limit : limits.temporary_credit_limit
  // No limit (null) is unlimited; a temporary limit raises the regular limit it stands above.
  const baseline = from ?? (kind === 'temporary_credit_limit' ? limits.credit_limit : null)
  return { from, increase: baseline !== null && to > baseline }
}

function change(kind: 'credit_limit' | 'temporary_credit_limit', to: number, expiresOn: string | null): Partial<CreditLimits> {
  return kind === 'credit_limit' ? { credit_limit: to } : { temporary_credit_limit: to, temporary_credit_limit_expires_on: expiresOn }
}

function audited(v: CreditLimitRequestView) {
  return { customer: v.customer, status: v.status, kind: v.kind, from: v.from, to: v.to, expires_on: v.expires_on, requested_by: v.requested_by }
}

export async function createCreditLimitRequest(trx: Trx, ctx: RequestContext, customerId: string, input: CreateCreditLimitRequestInput): Promise<CreditLimitRequestView> {
  const limits = await lockCreditLimits(trx, ctx, customerId)
  const kind = input.expires_on ? 'temporary_credit_limit' : 'credit_limit'
  if (input.expires_on) {
    const { today } = await ledgerContext(trx, ctx)
    if (input.expires_on < today) throw new AppError('validation_failed', `expires_on must not be before today (${today}).`, { param: 'expires_on' })
  }
  const { from, increase } = compare(limits, kind, input.credit_limit)
  const selfApproves = !(await approvalSettings(trx, ctx)).credit_limit_increase && can(ctx.access, 'credit_limits.approve')
  const approved = !increase || selfApproves
  const request = await insertCreditLimitRequest(trx, ctx, {
    customer_id: customerId,
    kind,
    from_limit: from,
    to_limit: input.credit_limit,
    expires_on: input.expires_on ?? null,
    reason: input.reason,
    approved,
  })
  await recordAudit(trx, ctx, { action: 'credit_limit_request.created', entity_type: 'credit_limit_request', entity_id: request.id, after: audited(request), reason: input.reason })
  await emitEvent(trx, ctx, 'credit_limit_request.created', request)
  if (approved) {
    await setCreditLimits(trx, ctx, customerId, limits, change(kind, input.credit_limit, input.expires_on ?? null), {
      source: 'request',
      request_id: request.id,
      approved_by: ctx.keyId ?? ctx.role,
      reason: input.reason,
    })
  }
  return request
}

async function pendingRequest(trx: Trx, ctx: RequestContext, id: string): Promise<CreditLimitRequestView> {
  const request = await getCreditLimitRequest(trx, ctx, id, { forUpdate: true })
  if (request.status !== 'pending') throw new AppError('approval_not_pending', `Credit-limit request ${id} is ${request.status}.`, { param: 'id', details: { status: request.status } })
  return request
}

/** A different key (and user) with credit_limits.approve applies a pending increase. */
export async function approveCreditLimitRequest(trx: Trx, ctx: RequestContext, id: string, input: { reason?: string }): Promise<CreditLimitRequestView> {
  const request = await pendingRequest(trx, ctx, id)
  if (request.requested_by === ctx.keyId || (ctx.user !== null && request.requested_user === ctx.user)) {
    throw new AppError('self_approval', 'The requester cannot approve its own credit-limit request.', { param: 'id' })
  }
  const limits = await lockCreditLimits(trx, ctx, request.customer)
  await setCreditLimits(trx, ctx, request.customer, limits, change(request.kind, request.to, request.expires_on), {
    source: 'request',
    request_id: request.id,
    requested_by: request.requested_by,
    approved_by: ctx.keyId ?? ctx.role,
    reason: input.reason ?? request.reason,
  })
  const decided = await decideCreditLimitRequest(trx, ctx, id, 'approved', input.reason ?? null)
  await recordAudit(trx, ctx, { action: 'credit_limit_request.approved', entity_type: 'credit_limit_request', entity_id: id, before: audited(request), after: audited(decided), reason: input.reason ?? null })
  await emitEvent(trx, ctx, 'credit_limit_request.approved', decided)
  return decided
}

export async function rejectCreditLimitRequest(trx: Trx, ctx: RequestContext, id: string, input: { reason: string }): Promise<CreditLimitRequestView> {
  const request = await pendingRequest(trx, ctx, id)
  const decided = await decideCreditLimitRequest(trx, ctx, id, 'rejected', input.reason)
  await recordAudit(trx, ctx, { action: 'credit_limit_request.rejected', entity_type: 'credit_limit_request', entity_id: id, before: audited(request), after: audited(decided), reason: input.reason })
  await emitEvent(trx, ctx, 'credit_limit_request.rejected', decided)
  return decided
}

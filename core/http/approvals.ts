import type { FastifyReply, FastifyRequest } from 'fastify'
import { withTenant } from '../kernel/db/tenant'
import type { ApprovalActionName, ApprovalPayload } from '../approvals/schemas'
import type { ApprovalView } from '../approvals/model'
import { approvalNeeded, requestApproval } from '../workflows/approvals'
import { inTenant } from './tx'

/**
 * Four eyes in front of a posting route: when the request is over the tenant's threshold for
 * `action` it answers 202 with a new approval request (through inTenant, so an Idempotency-Key
 * replays that 202), else it runs `post`, unchanged (the group-posting batcher for refunds and
 * write-offs). The threshold is read in a short transaction of its own before the request is
 * submitted, so batched postings stay batched.
 */
export async function postOrHold<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  action: ApprovalActionName,
  payload: ApprovalPayload,
  post: () => Promise<T>,
): Promise<T | ApprovalView> {
  const needed = await withTenant(req.server.deps.db, req.ctx.tenantId, (trx) => approvalNeeded(trx, req.ctx, action, payload), { owners: req.ctx.access.owners })
  if (!needed) return post()
  return inTenant(req, reply, (trx, ctx) => requestApproval(trx, ctx, action, payload), { status: 202 })
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import { withTenant } from '../kernel/db/tenant'
import { AppError } from '../kernel/errors'
import type { ApprovalActionName, ApprovalPayload } from '../approvals/schemas'
import type { ApprovalView } from '../approvals/model'
import { approvalNeeded, approvalThreshold, overThreshold, requestApproval } from '../workflows/approvals'
import { inTenant } from './tx'
import { StatusAnswer, type BatchRun } from './batch'

/**
 * Four eyes inside a group posting (refunds, write-offs): in the batch's transaction, each request
 * over the tenant's threshold for `action` becomes an approval request answered 202 (and stored
 * under its Idempotency-Key like any answer); the others post as one batch, in arrival order.
 */
export function holdOverThreshold<I extends object, O>(action: ApprovalActionName, run: BatchRun<I, O>): BatchRun<I, O | StatusAnswer<ApprovalView>> {
  return async (trx, items) => {
    // One read of the settings per batch; without a threshold (the default) the batch posts as before.
    const limit = await approvalThreshold(trx, items[0].ctx, action)
    if (limit === null) return run(trx, items)
    const out: (O | StatusAnswer<ApprovalView> | AppError)[] = new Array(items.length)
    const post: number[] = []
    for (const [i, { ctx, input }] of items.entries()) {
      const payload = { body: { ...input } as Record<string, unknown> }
      try {
        if (await overThreshold(trx, ctx, action, payload, limit)) out[i] = new StatusAnswer(202, await requestApproval(trx, ctx, action, payload))
        else post.push(i)
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        out[i] = err
      }
    }
    const posted = post.length ? await run(trx, post.map((i) => items[i])) : []
    post.forEach((i, n) => (out[i] = posted[n]))
    return out
  }
}

/**
 * Four eyes in front of a posting route that is not batched (reversals, voids): when the request is over the tenant's threshold for
 * `action` it answers 202 with a new approval request (through inTenant, so an Idempotency-Key
 * replays that 202), else it runs `post`, unchanged.
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

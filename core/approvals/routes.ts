import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { listQueryProperties, listSchema, type ListQuery } from '../kernel/pagination'
import { approveRequest, failedApprovalError, rejectRequest } from '../workflows/approvals'
import { getApprovalRequest, listApprovalRequests } from './model'
import { APPROVAL_STATUSES, approveBody, rejectBody, type ApprovalStatus } from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('apr') } } }

export async function approvalRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: ListQuery & { status?: ApprovalStatus; customer?: string } }>(
    '/approval-requests',
    {
      schema: {
        operationId: 'listApprovalRequests',
        tags: ['approvals'],
        summary: 'List approval requests',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, status: { type: 'string', enum: APPROVAL_STATUSES }, customer: { type: 'string', pattern: idPattern('cus') } },
        },
        response: { 200: listSchema(ref('ApprovalRequest')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listApprovalRequests(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/approval-requests/:id',
    { schema: { operationId: 'getApprovalRequest', tags: ['approvals'], summary: 'Get an approval request', params: idParams, response: { 200: ref('ApprovalRequest'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getApprovalRequest(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/approval-requests/:id/approve',
    {
      schema: {
        operationId: 'approveApprovalRequest',
        tags: ['approvals'],
        summary: 'Approve a request: runs its action once',
        description: [
          'A key other than the requester (and of another `user`) holding `approvals.approve` approves; the requester gets 403 `self_approval`.',
          'The action runs once, in this transaction and as the approver; the answer is the approval request with `status: approved` and the action’s response in `result` (e.g. the refund).',
          'Concurrent or repeated approvals: 409 `approval_not_pending`; a request pending past `expires_at`: 409 `approval_expired`.',
          'When the action itself is refused (e.g. 422 `refund_exceeds_credit` because the credit was used meanwhile), nothing is posted, the request becomes `failed` with that `error`, and this call answers that error (with `details.approval_request`).',
        ].join(' '),
        params: idParams,
        body: approveBody,
        response: { 200: ref('ApprovalRequest'), ...errors },
      },
    },
    async (req, reply) => {
      const decided = await inTenant(req, reply, (trx, ctx) => approveRequest(trx, ctx, req.params.id, req.body ?? {}))
      const refused = failedApprovalError(decided)
      if (refused) throw refused
      return decided
    },
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/approval-requests/:id/reject',
    {
      schema: {
        operationId: 'rejectApprovalRequest',
        tags: ['approvals'],
        summary: 'Reject a request (reason required)',
        description: 'Any `approvals.approve` holder, the requester included (a withdrawal). Nothing is posted.',
        params: idParams,
        body: rejectBody,
        response: { 200: ref('ApprovalRequest'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => rejectRequest(trx, ctx, req.params.id, req.body)),
  )
}

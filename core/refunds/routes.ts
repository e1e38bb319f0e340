import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema, ListQuery } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createRefundBody, CreateRefundInput } from './schemas'
import { getRefund, listRefunds } from './model'
import { batchedInTenant } from '../http/batch'
import { createRefunds } from '../workflows/refund'
import { holdOverThreshold } from '../http/approvals'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const held = { 202: ref('ApprovalRequest', 'Over the tenant’s approval threshold (GET /v1/settings): held as an approval request, nothing posted.') }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('ref') } } }

export async function refundRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent refunds of a tenant post together (core/http/batch.ts).
  const postRefund = batchedInTenant(holdOverThreshold('refund.create', createRefunds), { document: 'refund', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreateRefundInput }>(
    '/refunds',
    {
      schema: { operationId: 'createRefund', tags: ['refunds'], summary: 'Refund unapplied credit', description: 'Over `approvals.refund_over` (base minor units): 202 with an approval request.', body: createRefundBody, response: { 201: ref('Refund'), ...held, ...errors } },
    },
    async (req, reply) => postRefund(req, reply, req.body),
  )

  app.get<{ Querystring: ListQuery & { customer?: string } }>(
    '/refunds',
    {
      schema: {
        operationId: 'listRefunds',
        tags: ['refunds'],
        summary: 'List refunds',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') } },
        },
        response: { 200: listSchema(ref('Refund')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listRefunds(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/refunds/:id',
    {
      schema: { operationId: 'getRefund', tags: ['refunds'], summary: 'Get a refund', params: idParams, response: { 200: ref('Refund'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRefund(trx, ctx, req.params.id)),
  )
}

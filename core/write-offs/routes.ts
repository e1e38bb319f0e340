import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema, ListQuery } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createWriteOffBody, CreateWriteOffInput } from './schemas'
import { getWriteOff, listWriteOffs } from './model'
import { batchedInTenant } from '../http/batch'
import { createWriteOffs } from '../workflows/write-off'
import { holdOverThreshold } from '../http/approvals'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const held = { 202: ref('ApprovalRequest', 'Over the tenant’s approval threshold (GET /v1/settings): held as an approval request, nothing posted.') }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('wo') } } }

export async function writeOffRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent write-offs of a tenant post together (core/http/batch.ts).
  const postWriteOff = batchedInTenant(holdOverThreshold('write_off.create', createWriteOffs), { document: 'write_off', status: 201, partition: (input) => input.invoice })

  app.post<{ Body: CreateWriteOffInput }>(
    '/write-offs',
    {
      schema: { operationId: 'createWriteOff', tags: ['write-offs'], summary: 'Write off part of an invoice (bad debt)', description: 'Over `approvals.write_off_over` (base minor units, at the invoice’s rate): 202 with an approval request.', body: createWriteOffBody, response: { 201: ref('WriteOff'), ...held, ...errors } },
    },
    async (req, reply) => postWriteOff(req, reply, req.body),
  )

  app.get<{ Querystring: ListQuery & { customer?: string; invoice?: string } }>(
    '/write-offs',
    {
      schema: {
        operationId: 'listWriteOffs',
        tags: ['write-offs'],
        summary: 'List write-offs',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') }, invoice: { type: 'string', pattern: idPattern('inv') } },
        },
        response: { 200: listSchema(ref('WriteOff')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listWriteOffs(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/write-offs/:id',
    {
      schema: { operationId: 'getWriteOff', tags: ['write-offs'], summary: 'Get a write-off', params: idParams, response: { 200: ref('WriteOff'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getWriteOff(trx, ctx, req.params.id)),
  )
}

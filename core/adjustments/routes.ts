import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema, ListQuery } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createAdjustmentBody, CreateAdjustmentInput } from './schemas'
import { getAdjustment, listAdjustments } from './model'
import { batchedInTenant } from '../http/batch'
import { createAdjustments } from '../workflows/adjust'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('adj') } } }

export async function adjustmentRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent adjustments of a tenant post together (core/http/batch.ts).
  const postAdjustment = batchedInTenant(createAdjustments, { document: 'adjustment', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreateAdjustmentInput }>(
    '/adjustments',
    {
      schema: { operationId: 'createAdjustment', tags: ['adjustments'], summary: 'Post a debit note (positive) or a credit adjustment (negative)', body: createAdjustmentBody, response: { 201: ref('Adjustment'), ...errors } },
    },
    async (req, reply) => postAdjustment(req, reply, req.body),
  )

  app.get<{ Querystring: ListQuery & { customer?: string } }>(
    '/adjustments',
    {
      schema: {
        operationId: 'listAdjustments',
        tags: ['adjustments'],
        summary: 'List adjustments',
        querystring: { type: 'object', additionalProperties: false, properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') } } },
        response: { 200: listSchema(ref('Adjustment')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listAdjustments(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/adjustments/:id',
    {
      schema: { operationId: 'getAdjustment', tags: ['adjustments'], summary: 'Get an adjustment', params: idParams, response: { 200: ref('Adjustment'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getAdjustment(trx, ctx, req.params.id)),
  )
}

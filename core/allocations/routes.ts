import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { createAllocationBody, CreateAllocationInput, reverseAllocationBody } from './schemas'
import { getAllocation } from './model'
import { batchedInTenant } from '../http/batch'
import { createAllocations } from '../workflows/apply-credit'
import { reverseAllocation } from '../workflows/unapply'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('alc') } } }

export async function allocationRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent allocations of a tenant post together (core/http/batch.ts).
  const postAllocation = batchedInTenant(createAllocations, { document: 'allocation', status: 201, partition: (input) => input.source })

  app.post<{ Body: CreateAllocationInput }>(
    '/allocations',
    {
      schema: {
        operationId: 'createAllocation',
        tags: ['allocations'],
        summary: "Apply a payment's or credit note's unapplied credit to an invoice",
        body: createAllocationBody,
        response: { 201: ref('Allocation'), ...errors },
      },
    },
    async (req, reply) => postAllocation(req, reply, req.body),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/allocations/:id/reverse',
    {
      schema: {
        operationId: 'reverseAllocation',
        tags: ['allocations'],
        summary: 'Un-apply one allocation: the invoice reopens and the credit is unapplied again',
        params: idParams,
        body: reverseAllocationBody,
        response: { 200: ref('Allocation'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => reverseAllocation(trx, ctx, req.params.id, req.body.reason)),
  )

  app.get<{ Params: { id: string } }>(
    '/allocations/:id',
    {
      schema: { operationId: 'getAllocation', tags: ['allocations'], summary: 'Get an allocation', params: idParams, response: { 200: ref('Allocation'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getAllocation(trx, ctx, req.params.id)),
  )
}

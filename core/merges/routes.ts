import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { duplicateCustomers } from '../customers/duplicates'
import { mergeCustomers } from '../workflows/merge-customers'
import { duplicatesSchema, mergeBody, mergeSchema, type MergeInput } from './schemas'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['customers']

export async function mergeRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { limit?: number } }>(
    '/customers/duplicates',
    {
      schema: {
        operationId: 'listDuplicateCustomers',
        tags,
        summary: 'Likely duplicate customers: pairs sharing an e-mail, phone, tax id, external id or name, best first',
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } } },
        response: { 200: duplicatesSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => duplicateCustomers(trx, ctx, req.query.limit ?? 100)),
  )

  app.post<{ Params: { id: string }; Body: MergeInput }>(
    '/customers/:id/merge',
    {
      schema: {
        operationId: 'mergeCustomer',
        tags,
        summary: 'Merge this customer into another: its open items and balances move there; it ends merged',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('cus') } } },
        body: mergeBody,
        response: { 200: mergeSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => mergeCustomers(trx, ctx, req.params.id, req.body)),
  )
}

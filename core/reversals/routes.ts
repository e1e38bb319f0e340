import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { reversalSchema, reverseTransactionBody, ReverseTransactionInput } from './schemas'
import { reverseTransactionById } from '../workflows/reverse'

const errors = { '4xx': { $ref: 'Error#' } }
const params = (prefix: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern(prefix) } } })

export async function reversalRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { id: string }; Body: ReverseTransactionInput }>(
    '/transactions/:id/reverse',
    {
      schema: {
        tags: ['reversals'],
        summary: 'Reverse a customer transaction, whole or in part',
        params: params('txn'),
        body: reverseTransactionBody,
        response: { 200: reversalSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => reverseTransactionById(trx, ctx, req.params.id, req.body)),
  )
}

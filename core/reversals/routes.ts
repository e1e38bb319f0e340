import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { reverseTransactionBody, ReverseTransactionInput } from './schemas'
import { reverseTransactionById } from '../workflows/reverse'
import { postOrHold } from '../http/approvals'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const held = { 202: ref('ApprovalRequest', 'Over the tenant’s approval threshold (GET /v1/settings): held as an approval request, nothing posted.') }
const params = (prefix: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern(prefix) } } })

export async function reversalRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { id: string }; Body: ReverseTransactionInput }>(
    '/transactions/:id/reverse',
    {
      schema: {
        operationId: 'reverseTransaction',
        tags: ['reversals'],
        summary: 'Reverse a customer transaction, whole or in part',
        description: 'Over `approvals.reversal_over` (base minor units, at the original entry’s rate): 202 with an approval request.',
        params: params('txn'),
        body: reverseTransactionBody,
        response: { 200: ref('Reversal'), ...held, ...errors },
      },
    },
    async (req, reply) =>
      postOrHold(req, reply, 'reversal.create', { params: { id: req.params.id }, body: { ...req.body } }, () =>
        inTenant(req, reply, (trx, ctx) => reverseTransactionById(trx, ctx, req.params.id, req.body)),
      ),
  )
}

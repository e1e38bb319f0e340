import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { metadataPatchHandler } from '../http/metadata'
import { metadataPatchBody, type MetadataPatch } from '../kernel/metadata'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createPaymentBody, CreatePaymentInput, paymentFilterProperties, type PaymentListQuery } from './schemas'
import { getPayment, listPayments } from '../views/documents'
import { batchedInTenant } from '../http/batch'
import { createPayments } from '../workflows/record-payment'
import { voidPayment } from '../workflows/void'
import { postOrHold } from '../http/approvals'
import { voidBody, type VoidInput } from '../reversals/schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const held = { 202: ref('ApprovalRequest', 'Over the tenant’s approval threshold (GET /v1/settings): held as an approval request, nothing posted.') }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('pay') } } }

export async function paymentRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent payments of a tenant post together (core/http/batch.ts).
  const postPayment = batchedInTenant(createPayments, { document: 'payment', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreatePaymentInput }>(
    '/payments',
    {
      schema: { operationId: 'createPayment', tags: ['payments'], summary: 'Record a payment, applied to invoices or kept as advance', body: createPaymentBody, response: { 201: ref('Payment'), ...errors } },
    },
    async (req, reply) => postPayment(req, reply, req.body),
  )

  app.get<{ Querystring: PaymentListQuery }>(
    '/payments',
    {
      schema: {
        operationId: 'listPayments',
        tags: ['payments'],
        summary: 'List payments',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') }, ...paymentFilterProperties },
        },
        response: { 200: listSchema(ref('Payment')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listPayments(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/payments/:id',
    {
      schema: { operationId: 'getPayment', tags: ['payments'], summary: 'Get a payment with its allocations', params: idParams, response: { 200: ref('Payment'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getPayment(trx, ctx, req.params.id)),
  )

  app.patch<{ Params: { id: string }; Body: MetadataPatch }>(
    '/payments/:id',
    { schema: { operationId: 'updatePaymentMetadata', tags: ['payments'], summary: "Replace a payment's metadata", params: idParams, body: metadataPatchBody, response: { 200: ref('Payment'), ...errors } } },
    metadataPatchHandler('payments', getPayment),
  )

  app.post<{ Params: { id: string }; Body: VoidInput }>(
    '/payments/:id/void',
    {
      schema: { operationId: 'voidPayment', tags: ['payments'], summary: 'Void a payment (un-applies its allocations)', description: 'What remains of the payment over `approvals.reversal_over`: 202 with an approval request.', params: idParams, body: voidBody, response: { 200: ref('Payment'), ...held, ...errors } },
    },
    async (req, reply) =>
      postOrHold(req, reply, 'payment.void', { params: { id: req.params.id }, body: { ...req.body } }, () =>
        inTenant(req, reply, (trx, ctx) => voidPayment(trx, ctx, req.params.id, req.body)),
      ),
  )
}

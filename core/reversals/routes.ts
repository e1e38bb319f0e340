import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { invoiceSchema } from '../invoices/schemas'
import { paymentSchema } from '../payments/schemas'
import { reversalSchema, reverseTransactionBody, ReverseTransactionInput, voidBody, VoidInput } from './schemas'
import { reverseTransactionById, voidInvoice, voidPayment } from './service'

const errors = { '4xx': { $ref: 'Error#' } }
const params = (prefix: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern(prefix) } } })

export async function reversalRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { id: string }; Body: ReverseTransactionInput }>(
    '/transactions/:id/reverse',
    {
      config: { permission: ['create', 'Transaction'] },
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

  app.post<{ Params: { id: string }; Body: VoidInput }>(
    '/invoices/:id/void',
    {
      config: { permission: ['update', 'Invoice'] },
      schema: { tags: ['invoices'], summary: 'Void an invoice (un-applies its allocations)', params: params('inv'), body: voidBody, response: { 200: invoiceSchema, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => voidInvoice(trx, ctx, req.params.id, req.body)),
  )

  app.post<{ Params: { id: string }; Body: VoidInput }>(
    '/payments/:id/void',
    {
      config: { permission: ['update', 'Payment'] },
      schema: { tags: ['payments'], summary: 'Void a payment (un-applies its allocations)', params: params('pay'), body: voidBody, response: { 200: paymentSchema, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => voidPayment(trx, ctx, req.params.id, req.body)),
  )
}

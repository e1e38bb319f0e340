import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { listQueryProperties, listSchema, type ListQuery } from '../kernel/pagination'
import { consentsOf, customerCommunications, logCommunication, recordConsent, type LogCommunicationInput } from '../workflows/notify-communications'
import type { CommunicationType } from './model'
import { communicationSchema, COMMUNICATION_TYPE_ENUM, consentItemSchema, consentsSchema, createCommunicationBody, createConsentBody } from './schemas'

const errors = { '4xx': { $ref: 'Error#' } }
const params = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('cus') } } }

export async function communicationRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: ListQuery & { type?: CommunicationType } }>(
    '/customers/:id/communications',
    {
      schema: {
        operationId: 'listCustomerCommunications',
        tags: ['notifications'],
        summary: 'The communications log of a customer (sent notifications included), newest first',
        params,
        querystring: { type: 'object', additionalProperties: false, properties: { ...listQueryProperties, type: { type: 'string', enum: COMMUNICATION_TYPE_ENUM } } },
        response: { 200: listSchema(communicationSchema), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => customerCommunications(trx, ctx, req.params.id, req.query)),
  )
  app.post<{ Params: { id: string }; Body: LogCommunicationInput }>(
    '/customers/:id/communications',
    {
      schema: {
        operationId: 'createCustomerCommunication',
        tags: ['notifications'],
        summary: 'Log a call, e-mail, SMS, letter, visit, note or promise to pay',
        description: '`promise_to_pay` needs `promised_amount` and `promised_date` (and only it takes them); the credit policy sees promises as `has_promise_to_pay` / `promise_to_pay_date`.',
        params,
        body: createCommunicationBody,
        response: { 201: communicationSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => logCommunication(trx, ctx, req.params.id, req.body), { status: 201 }),
  )
  app.get<{ Params: { id: string } }>(
    '/customers/:id/consents',
    { schema: { operationId: 'listCustomerConsents', tags: ['notifications'], summary: 'A customer’s consents: in force per purpose, and the whole history', params, response: { 200: consentsSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => consentsOf(trx, ctx, req.params.id)),
  )
  app.post<{ Params: { id: string }; Body: { purpose: string; granted: boolean; source: string } }>(
    '/customers/:id/consents',
    {
      schema: {
        operationId: 'createCustomerConsent',
        tags: ['notifications'],
        summary: 'Record a consent given or withdrawn (history is kept)',
        params,
        body: createConsentBody,
        response: { 201: consentItemSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => recordConsent(trx, ctx, req.params.id, req.body), { status: 201 }),
  )
}

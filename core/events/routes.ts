import type { FastifyInstance } from 'fastify'
import { idPattern } from '../kernel/ids'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { redeliverEvent } from '../webhooks/delivery'
import { deliveryView } from '../webhooks/schemas'
import { getEvent, listEvents, type ListEventsQuery } from './reads'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['events']

const eventView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['event'] },
    type: { type: 'string' },
    created: { type: 'string' },
    tenant: { type: 'string' },
    data: {
      type: 'object',
      properties: { object: { type: 'object', additionalProperties: true, description: 'The resource as of the event; customer PII masked for roles without read_pii.' } },
      required: ['object'],
    },
    request: {
      type: 'object',
      properties: { id: { type: ['string', 'null'] }, idempotency_key: { type: ['string', 'null'] } },
      required: ['id', 'idempotency_key'],
    },
    archived: { type: 'boolean', description: 'Present (true) on an event moved to the archive by retention' },
  },
  required: ['id', 'object', 'type', 'created', 'tenant', 'data', 'request'],
} as const

const eventParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('evt') } },
} as const

export async function eventRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: ListEventsQuery }>(
    '/events',
    {
      schema: {
        operationId: 'listEvents',
        tags,
        summary: 'List events, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            starting_after: { type: 'string', pattern: idPattern('evt') },
            type: { type: 'string', pattern: '^[a-z_]+\\.[a-z_]+$', maxLength: 100, description: 'Only events of this type, e.g. invoice.paid.' },
          },
        },
        response: { 200: listSchema(eventView), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listEvents(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/events/:id',
    {
      schema: { operationId: 'getEvent', tags, summary: 'Retrieve an event', params: eventParams, response: { 200: eventView, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getEvent(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: { endpoint?: string } }>(
    '/events/:id/redeliver',
    {
      // The body is optional: a bare POST redelivers to every subscribed endpoint.
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: {
        operationId: 'redeliverEvent',
        tags,
        summary: 'Send an event again now, to every enabled endpoint subscribed to it or to one; the webhook-id stays the event id',
        params: eventParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { endpoint: { type: 'string', pattern: idPattern('we'), description: 'Only this webhook endpoint.' } },
        },
        response: { 202: listSchema(deliveryView), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => redeliverEvent(trx, ctx, req.params.id, req.body.endpoint), { status: 202 }),
  )
}

import type { FastifyInstance } from 'fastify'
import { idPattern } from '../kernel/ids'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { redeliverEvent } from '../webhooks/delivery'
import { getEvent, listEvents, type ListEventsQuery } from './reads'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['events']

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
        response: { 200: listSchema(ref('Event')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listEvents(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/events/:id',
    {
      schema: { operationId: 'getEvent', tags, summary: 'Retrieve an event', params: eventParams, response: { 200: ref('Event'), ...errors } },
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
        response: { 202: listSchema(ref('WebhookDelivery')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => redeliverEvent(trx, ctx, req.params.id, req.body.endpoint), { status: 202 }),
  )
}

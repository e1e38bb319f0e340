import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listSchema, type ListQuery } from '../kernel/pagination'
import {
  createEndpointBody,
  deletedEndpointView,
  deliveryParams,
  endpointParams,
  listAttemptsQuery,
  listDeliveriesQuery,
  listEndpointsQuery,
  updateEndpointBody,
  type CreateEndpointInput,
  type ListDeliveriesQuery,
  type UpdateEndpointInput,
} from './schemas'
import { createEndpoint, deleteEndpoint, getEndpoint, listAttempts, listDeliveries, listEndpoints, rotateSecret, updateEndpoint } from './service'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['webhooks']

export async function webhookRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: CreateEndpointInput }>(
    '/webhook-endpoints',
    {
      schema: {
        operationId: 'createWebhookEndpoint',
        tags,
        summary: 'Create a webhook endpoint; its whsec_ signing secret is shown once',
        body: createEndpointBody,
        response: { 201: ref('WebhookEndpointWithSecret'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createEndpoint(trx, ctx, req.body), { status: 201 }),
  )

  app.get<{ Querystring: ListQuery }>(
    '/webhook-endpoints',
    {
      schema: { operationId: 'listWebhookEndpoints', tags, summary: 'List webhook endpoints, newest first', querystring: listEndpointsQuery, response: { 200: listSchema(ref('WebhookEndpoint')), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listEndpoints(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/webhook-endpoints/:id',
    {
      schema: { operationId: 'getWebhookEndpoint', tags, summary: 'Retrieve a webhook endpoint (never its secret)', params: endpointParams, response: { 200: ref('WebhookEndpoint'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getEndpoint(trx, ctx, req.params.id)),
  )

  app.patch<{ Params: { id: string }; Body: UpdateEndpointInput }>(
    '/webhook-endpoints/:id',
    {
      schema: {
        operationId: 'updateWebhookEndpoint',
        tags,
        summary: 'Change the URL, event filter or description; enable or disable the endpoint',
        params: endpointParams,
        body: updateEndpointBody,
        response: { 200: ref('WebhookEndpoint'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => updateEndpoint(trx, ctx, req.params.id, req.body)),
  )

  app.delete<{ Params: { id: string } }>(
    '/webhook-endpoints/:id',
    {
      schema: { operationId: 'deleteWebhookEndpoint', tags, summary: 'Delete a webhook endpoint; pending deliveries to it are dropped', params: endpointParams, response: { 200: deletedEndpointView, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => deleteEndpoint(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string } }>(
    '/webhook-endpoints/:id/rotate-secret',
    {
      // No body needed: a bare POST rotates.
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: {
        operationId: 'rotateWebhookEndpointSecret',
        tags,
        summary: 'Issue a new signing secret; the previous one keeps signing for 24 hours',
        params: endpointParams,
        body: { type: 'object', additionalProperties: false, properties: {} },
        response: { 200: ref('WebhookEndpointWithSecret'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => rotateSecret(trx, ctx, req.params.id)),
  )

  app.get<{ Params: { id: string }; Querystring: ListDeliveriesQuery }>(
    '/webhook-endpoints/:id/deliveries',
    {
      schema: {
        operationId: 'listWebhookEndpointDeliveries',
        tags,
        summary: 'The delivery log of an endpoint, newest first, each delivery with its latest attempts',
        params: endpointParams,
        querystring: listDeliveriesQuery,
        response: { 200: listSchema(ref('WebhookDelivery')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listDeliveries(trx, ctx, req.params.id, req.query)),
  )

  app.get<{ Params: { id: string; delivery: string }; Querystring: ListQuery }>(
    '/webhook-endpoints/:id/deliveries/:delivery/attempts',
    {
      schema: {
        operationId: 'listWebhookEndpointDeliveryAttempts',
        tags,
        summary: 'Every attempt of one delivery (status code, duration, error, response excerpt), newest first',
        params: deliveryParams,
        querystring: listAttemptsQuery,
        response: { 200: listSchema(ref('WebhookDeliveryAttempt')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listAttempts(trx, ctx, req.params.id, req.params.delivery, req.query)),
  )
}

import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { listQueryProperties, listSchema, type ListQuery } from '../kernel/pagination'
import { customerFilter } from '../customers/service'
import { createNotification, retryNotification, testChannel } from '../workflows/notify'
import { createChannel, deleteChannel, getChannel, listChannelViews, updateChannel } from './channels'
import { enqueueNotifications } from './jobs'
import { getNotification, listNotifications, type NotificationStatus } from './model'
import {
  channelTestSchema,
  createChannelBody,
  createNotificationBody,
  NOTIFICATION_STATUS_ENUM,
  testChannelBody,
  updateChannelBody,
} from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const params = (prefix: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern(prefix) } } })
const tags = ['notifications']

export async function notificationRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { name: string; plugin: string; config: Record<string, unknown> } }>(
    '/notification-channels',
    { schema: { operationId: 'createNotificationChannel', tags, summary: 'Add a notification channel (a configured channel plugin)', body: createChannelBody, response: { 201: ref('NotificationChannel'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createChannel(trx, ctx, req.body), { status: 201 }),
  )
  app.get(
    '/notification-channels',
    { schema: { operationId: 'listNotificationChannels', tags, summary: 'List notification channels', response: { 200: listSchema(ref('NotificationChannel')), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listChannelViews(trx, ctx)),
  )
  app.get<{ Params: { id: string } }>(
    '/notification-channels/:id',
    { schema: { operationId: 'getNotificationChannel', tags, summary: 'Get a notification channel', params: params('nch'), response: { 200: ref('NotificationChannel'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getChannel(trx, ctx, req.params.id)),
  )
  app.patch<{ Params: { id: string }; Body: { name?: string; config?: Record<string, unknown> } }>(
    '/notification-channels/:id',
    { schema: { operationId: 'updateNotificationChannel', tags, summary: 'Change a channel’s name or config', params: params('nch'), body: updateChannelBody, response: { 200: ref('NotificationChannel'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => updateChannel(trx, ctx, req.params.id, req.body)),
  )
  app.delete<{ Params: { id: string } }>(
    '/notification-channels/:id',
    { schema: { operationId: 'deleteNotificationChannel', tags, summary: 'Delete a channel (its notifications stay)', params: params('nch'), response: { 200: ref('NotificationChannel'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => deleteChannel(trx, ctx, req.params.id)),
  )
  app.post<{ Params: { id: string }; Body: { to: string } }>(
    '/notification-channels/:id/test',
    {
      schema: {
        operationId: 'testNotificationChannel',
        tags,
        summary: 'Send a test message through the channel now',
        description: 'Not stored as a notification; audited. `status: failed` with the provider’s error when the send did not go through.',
        params: params('nch'),
        body: testChannelBody,
        response: { 200: channelTestSchema, ...errors },
      },
    },
    async (req) => {
      const { config } = req.server.deps
      return testChannel(req.server.deps.db, req.ctx, req.params.id, req.body.to, { allowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS, httpTimeoutMs: 10_000 })
    },
  )

  app.post<{ Body: { customer: string; template: string; channel?: string; data?: Record<string, unknown> } }>(
    '/notifications',
    {
      schema: {
        operationId: 'createNotification',
        tags,
        summary: 'Queue a notification to a customer',
        description: [
          'Answers `{id, status: "queued"}`; a worker sends it at most once (claim, send, record).',
          'A customer whose preferences (`email: false`, `sms: false`) or consent (withdrawn `email`, `sms` or `notifications`) exclude the channel ends `suppressed` with the reason.',
          'No channel reaches the customer → 422 `channel_unavailable`; unknown template → 404 (param `template`).',
        ].join(' '),
        body: createNotificationBody,
        response: { 201: ref('Notification'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createNotification(trx, ctx, req.body, enqueueNotifications), { status: 201 }),
  )
  app.get<{ Querystring: ListQuery & { customer?: string; status?: NotificationStatus } }>(
    '/notifications',
    {
      schema: {
        operationId: 'listNotifications',
        tags,
        summary: 'List notifications',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') }, status: { type: 'string', enum: NOTIFICATION_STATUS_ENUM } },
        },
        response: { 200: listSchema(ref('Notification')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listNotifications(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )
  app.get<{ Params: { id: string } }>(
    '/notifications/:id',
    { schema: { operationId: 'getNotification', tags, summary: 'Get a notification with its attempts', params: params('ntf'), response: { 200: ref('Notification'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getNotification(trx, ctx, req.params.id)),
  )
  app.post<{ Params: { id: string } }>(
    '/notifications/:id/retry',
    {
      schema: {
        operationId: 'retryNotification',
        tags,
        summary: 'Retry a failed or dead notification (a person’s decision, e.g. after an unknown outcome)',
        description: 'Back to `queued` with a fresh retry budget; any other status → 422 `invalid_state`.',
        params: params('ntf'),
        response: { 200: ref('Notification'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => retryNotification(trx, ctx, req.params.id, enqueueNotifications)),
  )
}

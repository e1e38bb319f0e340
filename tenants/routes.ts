import type { FastifyInstance, FastifyRequest } from 'fastify'
import { answer, idempotentRequest, inTenant } from '../core/http/tx'
import { platformContext } from '../core/http/auth'
import { listQueryProperties, listSchema, ListQuery } from '../core/kernel/pagination'
import { idPattern } from '../core/kernel/ids'
import { ROLES, Role } from '../core/kernel/permissions'
import { advanceTestClock, createApiKey, getTestClock, listApiKeys, revokeApiKey } from './service'
import { createTenant } from './provision'

const errors = { '4xx': { $ref: 'Error#' } }

const tenantSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    name: { type: 'string' },
    base_currency: { type: 'string' },
    timezone: { type: 'string' },
    sandbox: { type: 'boolean' },
    test_clock_date: { type: ['string', 'null'] },
    created: { type: 'string' },
    api_key: { type: 'string', description: 'Admin API key secret, shown once.' },
  },
}

const apiKeySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    name: { type: 'string' },
    role: { type: 'string', enum: [...ROLES] },
    mode: { type: 'string', enum: ['test', 'live'] },
    last4: { type: 'string' },
    created: { type: 'string' },
    revoked: { type: ['string', 'null'] },
    secret: { type: 'string', description: 'Shown once, on creation.' },
  },
}

export async function tenantRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { name: string; base_currency: string; timezone?: string; sandbox?: boolean } }>(
    '/tenants',
    {
      config: { auth: 'platform' },
      schema: {
        tags: ['tenants'],
        summary: 'Provision a tenant (platform admin token)',
        description:
          'Accepts `Idempotency-Key` (1 to 255 printable characters) with the semantics of tenant routes: the same key and body ' +
          'within IDEMPOTENCY_TTL_HOURS replays the first response (201, with the same `api_key`) with `Idempotent-Replayed: true`; ' +
          'the same key with a different body is 422 `idempotency_key_reused`; a key still in flight is 409 `idempotency_key_in_use`. ' +
          'Platform keys are kept apart from every tenant’s keys. The replayable response holds the admin API key secret, so it is ' +
          'stored sealed (AES-256-GCM under a key derived from the platform admin token), never in the clear: after the token is ' +
          'rotated a stored response cannot be opened and the key answers 409 (retry with a new key).',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'base_currency'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            base_currency: { type: 'string', pattern: '^[a-zA-Z]{3}$' },
            timezone: { type: 'string', maxLength: 64 },
            sandbox: { type: 'boolean' },
          },
        },
        response: { 201: tenantSchema, ...errors },
      },
    },
    async (req, reply) => {
      // Platform requests carry no tenant context (req.ctx); the key is read as for tenant routes and
      // checked by the same rule (400 invalid_idempotency_key beyond 255 printable characters).
      const header = req.headers['idempotency-key']
      const claim = idempotentRequest({ method: req.method, url: req.url, body: req.body, ctx: { idempotencyKey: typeof header === 'string' ? header : null } } as FastifyRequest)
      const idem = claim && { ...claim, ttlHours: app.deps.config.IDEMPOTENCY_TTL_HOURS, token: app.deps.config.PLATFORM_ADMIN_TOKEN }
      return answer(reply, await createTenant(app.deps.db, (id) => platformContext(req, id), req.body, idem))
    },
  )

  app.post<{ Body: { name: string; role: Role; mode?: 'test' | 'live' } }>(
    '/api-keys',
    {
      config: { permission: ['create', 'ApiKey'] },
      schema: {
        tags: ['tenants'],
        summary: 'Create an API key bound to a role; the secret is shown once',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            role: { type: 'string', enum: [...ROLES] },
            mode: { type: 'string', enum: ['test', 'live'] },
          },
        },
        response: { 201: apiKeySchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createApiKey(trx, ctx, req.body), { status: 201 }),
  )

  app.get<{ Querystring: ListQuery }>(
    '/api-keys',
    {
      config: { permission: ['read', 'ApiKey'] },
      schema: {
        tags: ['tenants'],
        summary: 'List API keys (never their secrets)',
        querystring: { type: 'object', additionalProperties: false, properties: listQueryProperties },
        response: { 200: listSchema(apiKeySchema), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listApiKeys(trx, ctx, req.query)),
  )

  app.delete<{ Params: { id: string } }>(
    '/api-keys/:id',
    {
      config: { permission: ['delete', 'ApiKey'] },
      schema: {
        tags: ['tenants'],
        summary: 'Revoke an API key',
        params: { type: 'object', properties: { id: { type: 'string', pattern: idPattern('key') } }, required: ['id'] },
        response: { 200: apiKeySchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => revokeApiKey(trx, ctx, req.params.id)),
  )

  const testClockSchema = {
    type: 'object',
    properties: { object: { type: 'string' }, sandbox: { type: 'boolean' }, date: { type: 'string', description: "The tenant's accounting today." } },
  }

  app.get(
    '/test-clock',
    {
      config: { permission: ['read', 'Tenant'] },
      schema: { tags: ['tenants'], summary: "The tenant's accounting date (its test clock in sandbox mode)", response: { 200: testClockSchema, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getTestClock(trx, ctx)),
  )

  app.post<{ Body: { date: string } }>(
    '/test-clock/advance',
    {
      config: { permission: ['update', 'Tenant'] },
      schema: {
        tags: ['tenants'],
        summary: 'Move a sandbox tenant’s test clock forward',
        body: { type: 'object', additionalProperties: false, required: ['date'], properties: { date: { type: 'string', format: 'date' } } },
        response: { 200: testClockSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => advanceTestClock(trx, ctx, req.body.date)),
  )
}

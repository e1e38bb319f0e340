import { withOptional } from '../core/kernel/schema'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { answer, idempotentRequest, inTenant } from '../core/http/tx'
import { platformContext } from '../core/http/auth'
import { listQueryProperties, listSchema, ListQuery } from '../core/kernel/pagination'
import { idPattern } from '../core/kernel/ids'
import { PERMISSION_NAMES, USER_LABEL_PATTERN } from '../core/kernel/permissions'
import { createRole, deleteRole, getRole, listRoles, permissionsView, updateRole, type RoleInput } from './roles'
import { advanceTestClock, createApiKey, getTestClock, listApiKeys, revokeApiKey } from './service'
import { createTenant } from './provision'
import { ref } from '../core/http/components'

const errors = { '4xx': { $ref: 'Error#' } }

export async function tenantRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { name: string; base_currency: string; timezone?: string; sandbox?: boolean } }>(
    '/tenants',
    {
      config: { auth: 'platform' },
      schema: {
        operationId: 'createTenant',
        tags: ['platform'],
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
        response: { 201: ref('Tenant'), ...errors },
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

  app.post<{ Body: { name: string; role: string; user?: string; mode?: 'test' | 'live' } }>(
    '/api-keys',
    {
      schema: {
        operationId: 'createApiKey',
        tags: ['account'],
        summary: 'Create an API key bound to a role; the secret is shown once',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            role: { type: 'string', minLength: 1, maxLength: 100, description: 'A built-in role (admin, accountant, manager, cashier, credit_manager, sales_rep, compliance, auditor), or a custom role by id or name.' },
            user: {
              type: 'string',
              pattern: USER_LABEL_PATTERN,
              description: 'The staff member the key belongs to: the audit log names them, and customers assigned to this label stay theirs when the key is rotated.',
            },
            mode: { type: 'string', enum: ['test', 'live'] },
          },
        },
        response: { 201: ref('ApiKeyWithSecret'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createApiKey(trx, ctx, req.body), { status: 201 }),
  )

  app.get<{ Querystring: ListQuery }>(
    '/api-keys',
    {
      schema: {
        operationId: 'listApiKeys',
        tags: ['account'],
        summary: 'List API keys (never their secrets)',
        querystring: { type: 'object', additionalProperties: false, properties: listQueryProperties },
        response: { 200: listSchema(ref('ApiKey')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listApiKeys(trx, ctx, req.query)),
  )

  app.delete<{ Params: { id: string } }>(
    '/api-keys/:id',
    {
      schema: {
        operationId: 'revokeApiKey',
        tags: ['account'],
        summary: 'Revoke an API key',
        params: { type: 'object', properties: { id: { type: 'string', pattern: idPattern('key') } }, required: ['id'] },
        response: { 200: ref('ApiKey'), ...errors },
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
      schema: { operationId: 'getTestClock', tags: ['account'], summary: "The tenant's accounting date (its test clock in sandbox mode)", response: { 200: testClockSchema, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getTestClock(trx, ctx)),
  )

  app.post<{ Body: { date: string } }>(
    '/test-clock/advance',
    {
      schema: {
        operationId: 'advanceTestClock',
        tags: ['account'],
        summary: 'Move a sandbox tenant’s test clock forward',
        body: { type: 'object', additionalProperties: false, required: ['date'], properties: { date: { type: 'string', format: 'date' } } },
        response: { 200: testClockSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => advanceTestClock(trx, ctx, req.body.date)),
  )

  // ---- permissions and roles ----------------------------------------------------------------

  const permissionSchema = {
    type: 'object',
    properties: { object: { type: 'string' }, name: { type: 'string' }, description: { type: 'string' }, scope: { type: 'string', enum: ['customer', 'tenant'] } },
  }
  const roleSchema = withOptional({
    type: 'object',
    properties: {
      id: { type: 'string', description: 'The name of a built-in role, or `role_…`.' },
      object: { type: 'string' },
      name: { type: 'string' },
      built_in: { type: 'boolean' },
      description: { type: ['string', 'null'] },
      permissions: { type: 'array', items: { type: 'string' } },
      own_customers_only: { type: 'boolean', description: 'Keys with this role see and act only on the customers assigned to them, and their rows.' },
      version: { type: ['integer', 'null'] },
      created: { type: ['string', 'null'] },
      updated: { type: ['string', 'null'] },
      deleted: { type: 'boolean' },
    },
  }, 'deleted')
  const roleBody = (required: string[]) => ({
    type: 'object',
    additionalProperties: false,
    required,
    minProperties: 1,
    properties: {
      name: { type: 'string', pattern: '^[a-z][a-z0-9_]{0,63}$' },
      description: { type: ['string', 'null'], maxLength: 500 },
      permissions: { type: 'array', maxItems: PERMISSION_NAMES.length, items: { type: 'string', maxLength: 100 } },
      own_customers_only: { type: 'boolean' },
    },
  })
  const roleParams = { type: 'object', properties: { id: { type: 'string', maxLength: 100 } }, required: ['id'] }

  app.get(
    '/permissions',
    { schema: { operationId: 'listPermissions', tags: ['roles'], summary: 'Every named permission, with what it grants and whether a role limited to its own customers may hold it', response: { 200: listSchema(permissionSchema), ...errors } } },
    async () => permissionsView(),
  )

  app.get(
    '/roles',
    { schema: { operationId: 'listRoles', tags: ['roles'], summary: 'The built-in roles and the tenant’s custom roles, each with its permissions', response: { 200: listSchema(roleSchema), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listRoles(trx, ctx)),
  )

  app.get<{ Params: { id: string } }>(
    '/roles/:id',
    { schema: { operationId: 'getRole', tags: ['roles'], summary: 'One role', params: roleParams, response: { 200: roleSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRole(trx, ctx, req.params.id)),
  )

  app.post<{ Body: RoleInput }>(
    '/roles',
    { schema: { operationId: 'createRole', tags: ['roles'], summary: 'Create a custom role from named permissions', body: roleBody(['name', 'permissions']), response: { 201: roleSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createRole(trx, ctx, req.body), { status: 201 }),
  )

  app.patch<{ Params: { id: string }; Body: Partial<RoleInput> }>(
    '/roles/:id',
    {
      schema: {
        operationId: 'updateRole',
        tags: ['roles'],
        summary: 'Change a custom role (its keys follow at once)',
        params: roleParams,
        body: roleBody([]),
        response: { 200: roleSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => updateRole(trx, ctx, req.params.id, req.body)),
  )

  app.delete<{ Params: { id: string } }>(
    '/roles/:id',
    { schema: { operationId: 'deleteRole', tags: ['roles'], summary: 'Delete a custom role (409 role_in_use while an active key holds it)', params: roleParams, response: { 200: roleSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => deleteRole(trx, ctx, req.params.id)),
  )
}

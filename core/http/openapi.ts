import type { SwaggerOptions } from '@fastify/swagger'
import { EXAMPLES } from './examples'

/**
 * Document-wide parts of the OpenAPI document: servers, info, tags, and the headers every operation
 * shares (declared once as components, attached to each operation by `decorateDocument`). What is
 * specific to one operation (its schemas, operationId, examples) stays in its route's `schema`.
 */

type Doc = {
  components?: Record<string, Record<string, unknown>>
  paths?: Record<string, Record<string, Operation>>
  [k: string]: unknown
}
type Media = Record<string, { example?: unknown }>
type Operation = { operationId?: string; parameters?: unknown[]; requestBody?: { content?: Media }; responses?: Record<string, Record<string, unknown>> }

/** Operations that answer with an `ETag` (the resource's version, for `If-Match`). */
const ETAG_OPERATIONS = new Set(['createCustomer', 'getCustomer', 'updateCustomer', 'deleteCustomer', 'restoreCustomer', 'getCreditPolicy', 'setCreditPolicy', 'restoreCreditPolicyVersion'])

const integer = { type: 'integer', minimum: 0 }
const headers = {
  'Request-Id': { description: 'The id of this request (`req_…`), also in error bodies as `request_id`: quote it to support.', schema: { type: 'string', example: 'req_01jd8x5m3q4v7w9y2b6c8e0g1k' } },
  'X-RateLimit-Limit': { description: 'Requests allowed per window for this API key (or client address).', schema: integer },
  'X-RateLimit-Remaining': { description: 'Requests left in the current window.', schema: integer },
  'X-RateLimit-Reset': { description: 'Seconds until the window resets.', schema: integer },
  'Retry-After': { description: 'Seconds to wait before retrying (with the same `Idempotency-Key` for a POST).', schema: integer },
  ETag: { description: 'The resource’s version as a strong entity tag (`"3"`): send it back as `If-Match` to update only that version.', schema: { type: 'string', example: '"3"' } },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored response of an earlier request with the same `Idempotency-Key` (nothing was done again).',
    schema: { type: 'string', enum: ['true'] },
  },
}
const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` })
const rateLimitHeaders = Object.fromEntries(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'].map((h) => [h, ref('headers', h)]))
const errorContent = { 'application/json': { schema: ref('schemas', 'Error') } }

const TAGS: { name: string; description: string; platform?: true }[] = [
  { name: 'platform', platform: true, description: 'Operator operations with the platform admin token (`PLATFORM_ADMIN_TOKEN`), never a tenant’s API key: provision tenants, pause and resume their jobs, retry dead letters.' },
  { name: 'account', description: 'The tenant’s API keys and its accounting date (test clock in sandbox mode).' },
  { name: 'roles', description: 'Permissions and roles that API keys are bound to.' },
  { name: 'settings', description: 'Tenant settings: approval thresholds, credit rules, documents.' },
  { name: 'customers', description: 'Customers with their balances, personal data (by permission), exports, anonymization and merges.' },
  { name: 'invoices', description: 'Invoices and debit notes posted to the sub-ledger and the journal.' },
  { name: 'sales', description: 'Point-of-sale sales: an invoice and its payments in one request.' },
  { name: 'payments', description: 'Payments received, applied to invoices or kept as credit.' },
  { name: 'allocations', description: 'Applying payments and credits to invoices, and un-applying them.' },
  { name: 'credit-notes', description: 'Credit notes and returns.' },
  { name: 'refunds', description: 'Money given back from a customer’s credit.' },
  { name: 'write-offs', description: 'Writing off what will not be collected.' },
  { name: 'adjustments', description: 'Balance adjustments with a reason.' },
  { name: 'reversals', description: 'Reversing a posted transaction, in full or in part.' },
  { name: 'disputes', description: 'Customer disputes with their evidence files.' },
  { name: 'approvals', description: 'Four-eyes approval requests for postings over the tenant’s thresholds.' },
  { name: 'credit limits', description: 'Credit-limit change requests and their history.' },
  { name: 'credit policy', description: 'The tenant’s credit-policy rules, their versions and sweeps.' },
  { name: 'periods', description: 'Accounting periods: close, reopen, lock.' },
  { name: 'reports', description: 'Aging report and customer statements.' },
  { name: 'ledger', description: 'The customer sub-ledger, the journal, the chart of accounts and the trial balance.' },
  { name: 'reconciliations', description: 'Checking cached balances against the ledger, and repairing them.' },
  { name: 'imports', description: 'CSV imports of customers, opening balances, invoices and payments.' },
  { name: 'notifications', description: 'Notification channels, notifications, templates, customer communications and statement runs.' },
  { name: 'webhooks', description: 'Webhook endpoints and their deliveries.' },
  { name: 'events', description: 'Events the service emits, as delivered to webhooks.' },
  { name: 'audit', description: 'The tamper-evident audit log.' },
  { name: 'retention', description: 'Data-retention policies and runs.' },
  { name: 'plugins', description: 'The tenant’s plugins (chart of accounts, channels, …) and their configuration.' },
]

export const swaggerOptions: SwaggerOptions = {
  openapi: {
    openapi: '3.1.0',
    info: {
      title: 'Receivables API',
      version: '1.0.0',
      description:
        'Accounts-receivable sub-ledger for point-of-sale merchants. Amounts are integer minor units. ' +
        'Every request carries `Authorization: Bearer <API key>` (platform operations: the platform admin token). ' +
        'Every POST accepts an `Idempotency-Key`; every response carries `Request-Id` and the rate-limit headers.',
      contact: { name: 'Receivables API maintainers' },
      license: { name: 'Proprietary', identifier: 'LicenseRef-Proprietary' },
    },
    servers: [{ url: 'http://127.0.0.1:3000', description: 'A local instance (`npm start`, default HOST and PORT)' }],
    tags: TAGS.map(({ name, description }) => ({ name, description })),
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A tenant API key (`sk_test_…`/`sk_live_…`), or the platform admin token for platform operations.' } } },
    security: [{ bearer: [] }],
  },
  refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) || `def-${i}` },
  transformObject: (documentObject) => {
    if (!('openapiObject' in documentObject)) throw new Error('OpenAPI 3 only')
    return decorateDocument(documentObject.openapiObject as Doc) as typeof documentObject.openapiObject
  },
}

/** Adds the shared headers, parameters and 429/500/503 answers to every operation, the examples and the tag groups. */
export function decorateDocument(doc: Doc): Doc {
  doc.components = {
    ...doc.components,
    headers,
    parameters: {
      IdempotencyKey: {
        name: 'Idempotency-Key',
        in: 'header',
        required: false,
        description: '1 to 255 printable ASCII characters, no spaces (a UUID is fine). The same key and body within 24 hours replays the first response (with `Idempotent-Replayed: true`); the same key with another body is 422 `idempotency_key_reused`; a key still in flight is 409 `idempotency_key_in_use`.',
        schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$', example: '7f3e9c1a-2b4d-4e8f-9a6b-0c1d2e3f4a5b' },
      },
    },
    responses: {
      TooManyRequests: { description: 'Rate limited (`rate_limited`): retry after `Retry-After` seconds.', headers: { 'Request-Id': ref('headers', 'Request-Id'), 'Retry-After': ref('headers', 'Retry-After'), ...rateLimitHeaders }, content: errorContent },
      ServiceUnavailable: {
        description: 'Not ready, the database unavailable (`service_unavailable`) or too many postings of the tenant waiting (`overloaded`): retry after `Retry-After` seconds.',
        headers: { 'Request-Id': ref('headers', 'Request-Id'), 'Retry-After': ref('headers', 'Retry-After') },
        content: errorContent,
      },
      InternalError: { description: 'An unexpected error (`internal_error`); quote the `Request-Id`.', headers: { 'Request-Id': ref('headers', 'Request-Id') }, content: errorContent },
    },
  }
  for (const item of Object.values(doc.paths ?? {})) {
    for (const [method, op] of Object.entries(item)) {
      const post = method === 'post'
      if (post) op.parameters = [...(op.parameters ?? []), ref('parameters', 'IdempotencyKey')]
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        const success = status.startsWith('2')
        response.headers = {
          'Request-Id': ref('headers', 'Request-Id'),
          ...rateLimitHeaders,
          ...(success && op.operationId && ETAG_OPERATIONS.has(op.operationId) ? { ETag: ref('headers', 'ETag') } : {}),
          ...(success && post ? { 'Idempotent-Replayed': ref('headers', 'Idempotent-Replayed') } : {}),
          ...(response.headers as object | undefined),
        }
      }
      const example = op.operationId ? EXAMPLES[op.operationId] : undefined
      const requestMedia = op.requestBody?.content?.['application/json']
      const responseMedia = (op.responses?.[example?.status ?? ''] as { content?: Media } | undefined)?.content?.['application/json']
      if (example && requestMedia && responseMedia) {
        requestMedia.example = example.request
        responseMedia.example = example.response
      }
      op.responses = { ...op.responses, 429: ref('responses', 'TooManyRequests'), 500: ref('responses', 'InternalError'), 503: ref('responses', 'ServiceUnavailable') }
    }
  }
  doc['x-tagGroups'] = [
    { name: 'Platform', tags: TAGS.filter((t) => t.platform).map((t) => t.name) },
    { name: 'Merchant', tags: TAGS.filter((t) => !t.platform).map((t) => t.name) },
  ]
  return doc
}

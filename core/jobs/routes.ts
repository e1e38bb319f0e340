import { AsyncLocalStorage } from 'node:async_hooks'
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { createBullBoard } from '@bull-board/api'
import { BullAdapter } from '@bull-board/api/bullAdapter'
import { FastifyAdapter } from '@bull-board/fastify'
import { isUuid, withTenant } from '../kernel/db/tenant'
import { AppError, notFound } from '../kernel/errors'
import { consoleSessionKey, platformContext } from '../http/auth'
import { CONSOLE_COOKIE } from '../http/console-session'
import { tenantName } from '../console/model'
import { errorBody } from '../http/errors'
import { tenantPublicId, tenantUuid } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { setJobSettings, type TenantJobSettings } from './controls'
import { closeProducers, configureJobs, jobDefinition, jobTypes, producerQueue, type JobEnvelope } from './queues'
import { workerRegistry } from './registry'
import { republishStuck } from '../outbox/outbox'

/**
 * Platform operators' job controls, behind the platform admin token: the dead letters (jobs that
 * exhausted their retries: Bull's failed sets) with retry, a tenant's pause switch and concurrency
 * cap, and the Bull dashboard at /admin/queues. Also points the API's producers at Redis and tells
 * them the job types of the registry (core/jobs/registry.ts), which the API enqueues.
 */

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['platform']
export const DASHBOARD_PATH = '/admin/queues'
const MAX_DEAD_LETTERS = 100

const deadLetterSchema = {
  type: 'object',
  properties: {
    queue: { type: 'string' },
    id: { type: 'string' },
    tenant: { type: ['string', 'null'] },
    data: {},
    failed_reason: { type: ['string', 'null'] },
    attempts_made: { type: 'integer' },
    created: { type: 'string' },
    failed: { type: ['string', 'null'] },
  },
}

const jobSettingsSchema = {
  type: 'object',
  properties: {
    tenant: { type: 'string' },
    object: { type: 'string', enum: ['tenant_job_settings'] },
    paused: { type: 'boolean' },
    paused_at: { type: ['string', 'null'] },
    paused_reason: { type: ['string', 'null'] },
    concurrency: { type: ['integer', 'null'] },
  },
}

const tenantParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: { type: 'string', pattern: '^ten_[0-9a-f]{32}$' } } }

function settingsView(tenantId: string, s: TenantJobSettings) {
  return {
    tenant: tenantPublicId(tenantId),
    object: 'tenant_job_settings' as const,
    paused: s.paused,
    paused_at: s.paused_at ? s.paused_at.toISOString() : null,
    paused_reason: s.paused_reason,
    concurrency: s.concurrency,
  }
}

function deadLetterView(queue: string, job: import('bull').Job) {
  const env = job.data as Partial<JobEnvelope>
  return {
    queue,
    id: String(job.id),
    tenant: typeof env?.tenantId === 'string' ? tenantPublicId(env.tenantId) : null,
    data: env?.data ?? null,
    failed_reason: job.failedReason ?? null,
    attempts_made: job.attemptsMade,
    created: new Date(job.timestamp).toISOString(),
    failed: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
  }
}

export async function jobRoutes(app: FastifyInstance): Promise<void> {
  configureJobs({ redisUrl: app.deps.config.REDIS_URL, prefix: app.deps.config.QUEUE_PREFIX, db: app.deps.db, log: app.log, jobs: workerRegistry(app.deps.config).jobs })
  app.addHook('onClose', async () => closeProducers())

  app.get<{ Querystring: { queue?: string; limit?: number } }>(
    '/v1/platform/dead-letters',
    {
      config: { auth: 'platform' },
      schema: {
        operationId: 'listDeadLetters',
        tags,
        summary: 'Jobs that exhausted their retries, newest first (platform admin token)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { queue: { type: 'string', maxLength: 63 }, limit: { type: 'integer', minimum: 1, maximum: MAX_DEAD_LETTERS, default: 20 } },
        },
        response: { 200: { type: 'object', properties: { object: { type: 'string' }, data: { type: 'array', items: deadLetterSchema }, has_more: { type: 'boolean' } } }, ...errors },
      },
    },
    async (req) => {
      const limit = req.query.limit ?? 20
      const types = req.query.queue ? [req.query.queue] : jobTypes()
      if (req.query.queue && !jobTypes().includes(req.query.queue)) throw new AppError('validation_failed', `Unknown queue '${req.query.queue}'.`, { param: 'queue' })
      const found = (
        await Promise.all(types.map(async (type) => (await producerQueue(type).getFailed(0, limit)).filter(Boolean).map((job) => deadLetterView(type, job))))
      ).flat()
      found.sort((a, b) => (b.failed ?? '').localeCompare(a.failed ?? ''))
      return { object: 'list', data: found.slice(0, limit), has_more: found.length > limit }
    },
  )

  app.post<{ Params: { queue: string; jobId: string } }>(
    '/v1/platform/dead-letters/:queue/:jobId/retry',
    {
      config: { auth: 'platform' },
      schema: {
        operationId: 'retryDeadLetter',
        tags,
        summary: 'Retry a dead-lettered job once more (platform admin token)',
        description:
          'Runs the job again. A `webhook-delivery` job is not run as it was (its attempt was made and recorded): its deliveries that are not delivered are attempted now (one that gave up starts a new cycle of attempts), audited as `webhook_delivery.retried`, and the dead letter is removed; 422 `invalid_state` when none can be (delivered, being attempted, or the endpoint is disabled or deleted).',
        params: { type: 'object', additionalProperties: false, required: ['queue', 'jobId'], properties: { queue: { type: 'string', maxLength: 63 }, jobId: { type: 'string', maxLength: 300 } } },
        response: { 200: deadLetterSchema, ...errors },
      },
    },
    async (req) => {
      const { queue, jobId } = req.params
      if (!jobTypes().includes(queue)) throw notFound('queue', queue, 'queue')
      const job = await producerQueue(queue).getJob(jobId)
      if (!job) throw notFound('dead letter', jobId, 'jobId')
      if (!(await job.isFailed())) throw new AppError('invalid_state', 'Only a failed (dead-lettered) job can be retried.')
      const { retry } = jobDefinition(queue)
      const env = job.data as Partial<JobEnvelope>
      if (retry && typeof env?.tenantId === 'string') {
        // The job's work moved on (see JobOptions.retry): its type redoes it, and the dead letter goes.
        await retry(platformContext(req, env.tenantId), app.deps.db, env.data)
        await job.remove()
      } else {
        await job.retry()
      }
      req.log.info({ queue, jobId }, 'dead letter retried by the platform operator')
      return deadLetterView(queue, job)
    },
  )

  /** The uuid of a tenant the path names (`ten_…`), or 404. */
  const knownTenant = async (id: string): Promise<string> => {
    const uuid = tenantUuid(id)
    const known = uuid && (await app.deps.db('tenant_directory').where({ tenant_id: uuid }).first('tenant_id'))
    if (!uuid || !known) throw notFound('tenant', id, 'id')
    return uuid
  }
  const changeSettings = async (req: FastifyRequest<{ Params: { id: string } }>, change: Parameters<typeof setJobSettings>[2], action: string) => {
    const tenantId = await knownTenant(req.params.id)
    return withTenant(app.deps.db, tenantId, async (trx) => {
      const settings = await setJobSettings(trx, tenantId, change)
      await recordAudit(trx, platformContext(req, tenantId), { action, entity_type: 'tenant', entity_id: req.params.id, after: settingsView(tenantId, settings), reason: change.reason ?? null })
      return settingsView(tenantId, settings)
    })
  }

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/v1/platform/tenants/:id/pause',
    {
      config: { auth: 'platform' },
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: {
        operationId: 'pauseTenant',
        tags,
        summary: "Pause a tenant's jobs: they are delayed until it is resumed, not lost (platform admin token)",
        params: tenantParams,
        body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } },
        response: { 200: jobSettingsSchema, ...errors },
      },
    },
    async (req) => changeSettings(req, { paused: true, reason: req.body.reason ?? null }, 'tenant.jobs_paused'),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/v1/platform/tenants/:id/outbox/republish',
    {
      config: { auth: 'platform' },
      schema: {
        operationId: 'republishStuckEvents',
        tags,
        summary: "Hand a tenant's stuck outbox events back to the relay (platform admin token)",
        description:
          'Events the relay gave up on (published its maximum of times and never dispatched; counted by the `outbox_stuck_events` metric) are published once more, under fresh job ids. Fix what made their dispatch fail first (the `event-dispatch` dead letters say). Audited as `outbox.republished`.',
        params: tenantParams,
        body: { type: 'object', additionalProperties: false, required: ['reason'], properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } },
        response: {
          200: { type: 'object', properties: { tenant: { type: 'string' }, object: { type: 'string', enum: ['outbox_republish'] }, republished: { type: 'integer', description: 'Events handed back to the relay.' } } },
          ...errors,
        },
      },
    },
    async (req) => {
      const tenantId = await knownTenant(req.params.id)
      return withTenant(app.deps.db, tenantId, async (trx) => {
        const republished = await republishStuck(trx, tenantId)
        await recordAudit(trx, platformContext(req, tenantId), { action: 'outbox.republished', entity_type: 'tenant', entity_id: req.params.id, after: { republished }, reason: req.body.reason })
        return { tenant: req.params.id, object: 'outbox_republish' as const, republished }
      })
    },
  )

  app.post<{ Params: { id: string } }>(
    '/v1/platform/tenants/:id/resume',
    {
      config: { auth: 'platform' },
      schema: { operationId: 'resumeTenant', tags, summary: "Resume a tenant's jobs (platform admin token)", params: tenantParams, response: { 200: jobSettingsSchema, ...errors } },
    },
    async (req) => changeSettings(req, { paused: false }, 'tenant.jobs_resumed'),
  )

  app.post<{ Params: { id: string }; Body: { concurrency: number | null } }>(
    '/v1/platform/tenants/:id/job-settings',
    {
      config: { auth: 'platform' },
      schema: {
        operationId: 'setTenantJobSettings',
        tags,
        summary: "Set a tenant's cap on concurrently running jobs per job type, across workers; null restores the default (platform admin token)",
        params: tenantParams,
        body: { type: 'object', additionalProperties: false, required: ['concurrency'], properties: { concurrency: { type: ['integer', 'null'], minimum: 1, maximum: 100 } } },
        response: { 200: jobSettingsSchema, ...errors },
      },
    },
    async (req) => changeSettings(req, { concurrency: req.body.concurrency }, 'tenant.job_settings_updated'),
  )

  // The dashboard: its own plugin scope; the key-auth hook skips it. The platform token (Bearer)
  // opens it whole; a console session of a tenant's admin key opens it read-only, with the jobs of
  // other tenants shown without their data. Errors answer in the API's format (the dashboard's
  // plugin has its own error handler). Tenants are shown by name.
  const viewers = new WeakMap<FastifyRequest, string | null>()
  await app.register(async (board) => {
    // The dashboard's plugins add routes with board.route(); mark each before the key-auth hook's
    // onRoute check sees it (an onRoute hook here would run after the inherited one), and run its
    // handler knowing who looks (the formatters below read it).
    const route = board.route
    board.route = function (this: FastifyInstance, opts: RouteOptions) {
      const handler = opts.handler
      return route.call(this, {
        ...opts,
        handler: function (this: FastifyInstance, req: FastifyRequest, reply: FastifyReply) {
          return boardViewer.run(viewers.get(req) ?? null, () => handler.call(this, req, reply))
        },
        config: { ...opts.config, auth: 'none' },
        schema: { ...opts.schema, hide: true },
      })
    } as typeof board.route
    board.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
      const h = req.headers.authorization
      const token = h && /^Bearer\s+(\S+)\s*$/i.exec(h)?.[1]
      try {
        if (token || !req.cookies?.[CONSOLE_COOKIE]) {
          if (!token || !sameToken(token, app.deps.config.PLATFORM_ADMIN_TOKEN)) throw new AppError(token ? 'invalid_api_key' : 'authentication_required', token ? 'The platform admin token is invalid.' : undefined)
          viewers.set(req, null)
          return
        }
        const key = await consoleSessionKey(app.deps.db, req, req.cookies[CONSOLE_COOKIE]!)
        if (key.access.role !== 'admin') throw new AppError('permission_denied', 'The queue dashboard is open to the admin role only.')
        if (req.method !== 'GET' && req.method !== 'HEAD') throw new AppError('permission_denied', 'Through the console the queue dashboard is read-only; operators act with the platform token.')
        if (req.url.split('?')[0].endsWith('/logs')) throw new AppError('permission_denied', 'Job logs are for the platform operator.')
        viewers.set(req, key.tenantId)
      } catch (err) {
        if (!(err instanceof AppError)) throw err
        return reply.code(err.status).send(errorBody(err, req.id))
      }
    })
    // A tenant's viewer sees other tenants' jobs only as such: no id (it embeds the tenant), no
    // options, trace or reason (the formatters already hid their name, data and result).
    board.addHook('preSerialization', async (req: FastifyRequest, _reply: FastifyReply, payload: unknown) => {
      if (!viewers.get(req)) return payload
      const body = payload as { queues?: { jobs?: unknown[] }[]; job?: unknown } | null
      for (const q of body?.queues ?? []) if (Array.isArray(q.jobs)) q.jobs = q.jobs.map(maskForeignJob)
      if (body?.job) body.job = maskForeignJob(body.job)
      return payload
    })
    const serverAdapter = new FastifyAdapter()
    // Queues are handed to the dashboard on its first authorized request: building the app opens
    // no Redis connection.
    const { replaceQueues } = createBullBoard({ queues: [], serverAdapter })
    let shown: import('bull').Queue[] = []
    board.addHook('preHandler', async () => {
      const current = jobTypes().map((type) => producerQueue(type))
      if (current.length !== shown.length || current.some((q, i) => q !== shown[i])) {
        replaceQueues(current.map((q) => boardAdapter(q, (id) => tenantLabel(app, id))))
        shown = current
      }
    })
    serverAdapter.setBasePath(DASHBOARD_PATH)
    await board.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH })
  })
}

/** Who looks at the dashboard during a request: null for the platform operator, else the console session's tenant (uuid). */
const boardViewer = new AsyncLocalStorage<string | null>()
const OTHER_TENANT = 'another tenant'

/**
 * A queue as the dashboard shows it: each job named with its tenant's name; for a tenant's viewer,
 * the data and result of other tenants' jobs are hidden.
 */
function boardAdapter(queue: import('bull').Queue, label: (tenantId: string) => string): BullAdapter {
  const adapter = new BullAdapter(queue)
  const tenantOfJob = (data: unknown) => (data as Partial<JobEnvelope> | null)?.tenantId
  const hidden = (tenantId: string | undefined) => {
    const viewer = boardViewer.getStore()
    return viewer !== null && viewer !== undefined && tenantId !== viewer
  }
  adapter.setFormatter('name', (job: { name?: string; data?: unknown }) => {
    const tenantId = tenantOfJob(job.data)
    const who = !tenantId ? 'no tenant' : hidden(tenantId) ? OTHER_TENANT : label(tenantId)
    return `${job.name && job.name !== '__default__' ? job.name : queue.name} · ${who}`
  })
  adapter.setFormatter('data', (data: unknown) => {
    const tenantId = tenantOfJob(data)
    if (hidden(tenantId)) return { tenant: OTHER_TENANT }
    return tenantId ? { tenant: label(tenantId), ...(data as object) } : data
  })
  adapter.setFormatter('returnValue', (value: unknown) => (boardViewer.getStore() ? '(hidden)' : value))
  return adapter
}

function maskForeignJob(job: unknown): unknown {
  const j = job as { data?: { tenant?: string }; name?: string; timestamp?: number; processedOn?: number | null; finishedOn?: number | null; isFailed?: boolean }
  if (j?.data?.tenant !== OTHER_TENANT) return job
  return { id: 'hidden', name: j.name, data: j.data, timestamp: j.timestamp, processedOn: j.processedOn, finishedOn: j.finishedOn, isFailed: j.isFailed, progress: 0, attempts: 0, delay: 0, stacktrace: [], opts: {}, returnValue: null }
}

/**
 * A tenant's name for the dashboard (formatters are synchronous): from a small cache, filled in the
 * background on a miss (the public id shows until then; the dashboard refreshes itself).
 */
const tenantNames = new Map<string, string>()
const loadingNames = new Set<string>()
function tenantLabel(app: FastifyInstance, tenantId: string): string {
  const known = tenantNames.get(tenantId)
  if (known) return known
  if (!loadingNames.has(tenantId) && isUuid(tenantId)) {
    loadingNames.add(tenantId)
    withTenant(app.deps.db, tenantId, (trx) => tenantName(trx, tenantId))
      .then((name) => {
        if (tenantNames.size >= 1000) tenantNames.delete(tenantNames.keys().next().value as string)
        tenantNames.set(tenantId, name ? `${name} (${tenantPublicId(tenantId)})` : tenantPublicId(tenantId))
      })
      .catch(() => undefined)
      .finally(() => loadingNames.delete(tenantId))
  }
  return tenantPublicId(tenantId)
}

function sameToken(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

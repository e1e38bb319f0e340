import Fastify, { FastifyInstance, FastifyReply } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import rateLimit from '@fastify/rate-limit'
import cookie from '@fastify/cookie'
import type Redis from 'ioredis'
import type { Config } from '../kernel/config'
import type { Db } from '../kernel/db/knex'
import { newId } from '../kernel/ids'
import { rateLimitKey, rateLimitMax, registerAuth } from './auth'
import { coalescingRedisStore } from './rate-limit-store'
import { registerFieldRules } from './fields'
import { registerInputGuard } from './input'
import { errorBody, registerErrorHandling, toAppError } from './errors'
import { validatorCompiler } from './validation'
import { registerComponents, registerResponseConvention } from './components'
import { swaggerOptions } from './openapi'
import { createMetrics, Metrics } from '../ops/metrics'
import { opsRoutes } from '../ops/routes'
import { tenantRoutes } from '../../tenants/routes'
import { customerRoutes } from '../customers/routes'
import { privacyRoutes } from '../privacy/routes'
import { auditRoutes } from '../audit/routes'
import { createPluginRuntime, pluginRuntimeOptions, releasePluginRuntime, usePluginRuntime, type PluginRuntime } from '../kernel/plugins/runtime'
import { closeNumbering } from '../ledger/numbering'
import { invoiceRoutes } from '../invoices/routes'
import { paymentRoutes } from '../payments/routes'
import { allocationRoutes } from '../allocations/routes'
import { refundRoutes } from '../refunds/routes'
import { creditNoteRoutes } from '../credit-notes/routes'
import { writeOffRoutes } from '../write-offs/routes'
import { adjustmentRoutes } from '../adjustments/routes'
import { reversalRoutes } from '../reversals/routes'
import { periodRoutes } from '../periods/routes'
import { reportRoutes } from '../reports/routes'
import { saleRoutes } from '../sales/routes'
import { pluginRoutes } from '../plugins/routes'
import { ledgerRoutes } from '../ledger/routes'
import { jobRoutes } from '../jobs/routes'
import { reconciliationRoutes } from '../reconciliation/routes'
import { retentionRoutes } from '../retention/routes'
import { webhookRoutes } from '../webhooks/routes'
import { eventRoutes } from '../events/routes'
import { settingsRoutes } from '../settings/routes'
import { approvalRoutes } from '../approvals/routes'
import { creditLimitRoutes } from '../credit-limits/routes'
import { notificationRoutes } from '../notifications/routes'
import { notificationTemplateRoutes } from '../notification-templates/routes'
import { communicationRoutes } from '../communications/routes'
import { statementRunRoutes } from '../statement-runs/routes'
import { disputeRoutes } from '../disputes/routes'
import { mergeRoutes } from '../merges/routes'
import { importRoutes } from '../imports/routes'
import { configureDataKeys } from '../privacy/keys'
import { creditPolicyRoutes } from '../credit-policy/routes'
import { consoleRoutes } from '../console/routes'

export interface Deps {
  config: Config
  /** Connected as the runtime role: RLS applies. */
  db: Db
  redis: Redis
  metrics: Metrics
  /** Discovered plugins and the containment pool their code runs in (core/kernel/plugins/runtime.ts). */
  plugins: PluginRuntime
}

declare module 'fastify' {
  interface FastifyInstance {
    deps: Deps
  }
}

export const REDACT = [
  'req.headers.authorization',
  'req.headers["idempotency-key"]',
  'headers.authorization',
  '*.secret',
  '*.api_key',
  '*.password',
  '*.DATABASE_URL',
  '*.PLATFORM_ADMIN_TOKEN',
]

/**
 * The HTTP app. `deps.plugins` is the process's plugin runtime (main.ts makes one for the API and
 * the worker); without one the app makes its own from the config and closes it with the app.
 */
export async function buildApp(
  deps: Omit<Deps, 'metrics' | 'plugins'> & { metrics?: Metrics; plugins?: PluginRuntime },
  opts: { logger?: boolean; loggerStream?: NodeJS.WritableStream } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      opts.logger === false
        ? false
        : { level: deps.config.LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' }, ...(opts.loggerStream ? { stream: opts.loggerStream } : {}) },
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
    genReqId: () => newId('req'),
    requestIdHeader: false,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false } },
    // Errors raised before routing (a malformed URL) skip the hooks: answer them in the same format.
    frameworkErrors: (err, req, reply: FastifyReply) => {
      const appErr = toAppError(err)
      reply.header('request-id', req.id).code(appErr.status).send(errorBody(appErr, req.id))
    },
  })
  const plugins = deps.plugins ?? (await createPluginRuntime(pluginRuntimeOptions(deps.config, (m) => app.log.warn(m))))
  usePluginRuntime(plugins)
  if (!deps.plugins) app.addHook('onClose', async () => plugins.close())
  app.addHook('onClose', async () => releasePluginRuntime(plugins))
  configureDataKeys(deps.config)
  app.decorate('deps', { ...deps, metrics: deps.metrics ?? createMetrics(), plugins })
  app.setValidatorCompiler(validatorCompiler)
  // Bodies are JSON: without this, fastify's built-in text/plain parser turns a mislabelled body
  // into a confusing validation error instead of 415.
  app.removeContentTypeParser('text/plain')
  registerComponents(app)
  registerResponseConvention(app)
  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id)
  })
  registerErrorHandling(app)
  registerInputGuard(app)
  app.addHook('onClose', async () => closeNumbering())

  await app.register(swagger, swaggerOptions)
  // The API documentation is public: its routes (added by the plugin) declare no API-key auth.
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, auth: 'none' }
    })
    await docs.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })
  })

  await app.register(rateLimit, {
    global: true,
    // The platform's budget per window, or the tenant's lower one for its keys (settings rate_limit).
    max: (req) => rateLimitMax(req, deps.db, deps.config.RATE_LIMIT_MAX),
    timeWindow: deps.config.RATE_LIMIT_WINDOW_MS,
    // In Redis, one call per key and turn of the event loop (./rate-limit-store.ts), under the
    // service's QUEUE_PREFIX like its queues: another service (or test) on the same Redis keeps its
    // own counters, even for the same key or address.
    store: coalescingRedisStore(deps.redis, `recv:ratelimit:${deps.config.QUEUE_PREFIX}:`),
    skipOnError: true,
    // Per API key (however the header spells `Bearer`), else per client address: see rateLimitKey.
    keyGenerator: (req) => rateLimitKey(req, deps.db, deps.config.PLATFORM_ADMIN_TOKEN),
    allowList: (req) => req.url === '/health' || req.url === '/ready' || req.url === '/metrics',
    errorResponseBuilder: (_req, context) => ({ statusCode: 429, retryAfter: context.after }),
  })

  // The console's session cookie (core/console) stands in for the API key: parse cookies first.
  await app.register(cookie)
  registerAuth(app)
  registerFieldRules(app)
  app.deps.metrics.instrument(app)

  await app.register(opsRoutes)
  await app.register(tenantRoutes, { prefix: '/v1' })
  await app.register(customerRoutes, { prefix: '/v1' })
  await app.register(privacyRoutes, { prefix: '/v1' })
  await app.register(auditRoutes, { prefix: '/v1' })
  await app.register(invoiceRoutes, { prefix: '/v1' })
  await app.register(paymentRoutes, { prefix: '/v1' })
  await app.register(allocationRoutes, { prefix: '/v1' })
  await app.register(refundRoutes, { prefix: '/v1' })
  await app.register(creditNoteRoutes, { prefix: '/v1' })
  await app.register(writeOffRoutes, { prefix: '/v1' })
  await app.register(adjustmentRoutes, { prefix: '/v1' })
  await app.register(reversalRoutes, { prefix: '/v1' })
  await app.register(periodRoutes, { prefix: '/v1' })
  await app.register(reportRoutes, { prefix: '/v1' })
  await app.register(saleRoutes, { prefix: '/v1' })
  await app.register(pluginRoutes, { prefix: '/v1' })
  await app.register(ledgerRoutes, { prefix: '/v1' })
  await app.register(jobRoutes)
  await app.register(reconciliationRoutes, { prefix: '/v1' })
  await app.register(retentionRoutes, { prefix: '/v1' })
  await app.register(webhookRoutes, { prefix: '/v1' })
  await app.register(eventRoutes, { prefix: '/v1' })
  await app.register(settingsRoutes, { prefix: '/v1' })
  await app.register(approvalRoutes, { prefix: '/v1' })
  await app.register(creditLimitRoutes, { prefix: '/v1' })
  await app.register(notificationRoutes, { prefix: '/v1' })
  await app.register(notificationTemplateRoutes, { prefix: '/v1' })
  await app.register(communicationRoutes, { prefix: '/v1' })
  await app.register(statementRunRoutes, { prefix: '/v1' })
  await app.register(disputeRoutes, { prefix: '/v1' })
  await app.register(mergeRoutes, { prefix: '/v1' })
  await app.register(importRoutes, { prefix: '/v1' })
  await app.register(creditPolicyRoutes, { prefix: '/v1' })
  await app.register(consoleRoutes)
  return app
}

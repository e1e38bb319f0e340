import Fastify, { FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import rateLimit from '@fastify/rate-limit'
import type Redis from 'ioredis'
import type { Config } from '../config'
import type { Db } from '../db/knex'
import { newId } from '../ids'
import { registerAuth } from './auth'
import { errorResponseSchema, registerErrorHandling } from './errors'
import { validatorCompiler } from './validation'
import { createMetrics, Metrics } from '../ops/metrics'
import { opsRoutes } from '../ops/routes'
import { tenantRoutes } from '../../tenants/routes'
import { customerRoutes } from '../customers/routes'
import { auditRoutes } from '../audit/routes'

export interface Deps {
  config: Config
  /** Connected as the runtime role: RLS applies. */
  db: Db
  redis: Redis
  metrics: Metrics
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

export async function buildApp(deps: Omit<Deps, 'metrics'> & { metrics?: Metrics }, opts: { logger?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: opts.logger === false ? false : { level: deps.config.LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' } },
    bodyLimit: deps.config.BODY_LIMIT_BYTES,
    genReqId: () => newId('req'),
    requestIdHeader: false,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false } },
  })
  app.decorate('deps', { ...deps, metrics: deps.metrics ?? createMetrics() })
  app.setValidatorCompiler(validatorCompiler)
  app.addSchema(errorResponseSchema)
  app.addHook('onRequest', async (req, reply) => {
    reply.header('request-id', req.id)
  })
  registerErrorHandling(app)

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Receivables API',
        version: '1.0.0',
        description: 'Accounts-receivable sub-ledger for point-of-sale merchants. Amounts are integer minor units.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) || `def-${i}` },
  })
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list' } })

  await app.register(rateLimit, {
    global: true,
    max: deps.config.RATE_LIMIT_MAX,
    timeWindow: deps.config.RATE_LIMIT_WINDOW_MS,
    redis: deps.redis,
    nameSpace: 'recv:ratelimit:',
    skipOnError: true,
    // Per API key (hashed by the limiter's store key), falling back to the client address.
    keyGenerator: (req) => req.headers.authorization ?? req.ip,
    allowList: (req) => req.url === '/health' || req.url === '/ready' || req.url === '/metrics',
    errorResponseBuilder: (_req, context) => ({ statusCode: 429, retryAfter: context.after }),
  })

  registerAuth(app)
  app.deps.metrics.instrument(app)

  await app.register(opsRoutes)
  await app.register(tenantRoutes, { prefix: '/v1' })
  await app.register(customerRoutes, { prefix: '/v1' })
  await app.register(auditRoutes, { prefix: '/v1' })
  return app
}

import type { FastifyInstance } from 'fastify'
import { pendingMigrations } from '../kernel/db/migrate'

/**
 * Each readiness check answers within this long or counts as failed: a frozen database (open
 * connections that never answer) or a pool waiting on one must make the process not ready, not make
 * /ready hang past the prober's own timeout.
 */
export const READY_CHECK_TIMEOUT_MS = 2000

/** `check` within `ms`, else an error (the check itself runs on; its answer is ignored). */
function bounded<T>(check: () => Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  const run = check()
  run.catch(() => undefined) // a late failure after the timeout is not unhandled
  return Promise.race([run, timeout]).finally(() => clearTimeout(timer))
}

export async function opsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async () => ({ status: 'ok' }))

  app.get('/ready', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async (_req, reply) => {
    // Postgres and Redis are checked at once, each bounded by READY_CHECK_TIMEOUT_MS.
    const [postgres, redis] = await Promise.allSettled([
      bounded(async () => {
        await app.deps.db.raw('select 1')
        return pendingMigrations(app.deps.db)
      }, READY_CHECK_TIMEOUT_MS),
      bounded(() => app.deps.redis.ping(), READY_CHECK_TIMEOUT_MS),
    ])
    const checks: Record<string, string> = {}
    if (postgres.status === 'fulfilled') {
      checks.postgres = 'ok'
      checks.migrations = postgres.value.length ? `pending: ${postgres.value.join(', ')}` : 'ok'
    } else checks.postgres = `error: ${(postgres.reason as Error).message}`
    checks.redis = redis.status === 'fulfilled' ? (redis.value === 'PONG' ? 'ok' : 'error') : `error: ${(redis.reason as Error).message}`
    const ready = Object.values(checks).every((v) => v === 'ok')
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not_ready', checks }
  })

  app.get('/metrics', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', app.deps.metrics.registry.contentType)
    return app.deps.metrics.registry.metrics()
  })
}

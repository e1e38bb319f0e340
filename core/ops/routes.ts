import type { FastifyInstance } from 'fastify'
import { pendingMigrations } from '../kernel/db/migrate'

export async function opsRoutes(app: FastifyInstance): Promise<void> {
  app.get('/health', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async () => ({ status: 'ok' }))

  app.get('/ready', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async (_req, reply) => {
    const checks: Record<string, string> = {}
    try {
      await app.deps.db.raw('select 1')
      const pending = await pendingMigrations(app.deps.db)
      checks.postgres = 'ok'
      checks.migrations = pending.length ? `pending: ${pending.join(', ')}` : 'ok'
    } catch (err) {
      checks.postgres = `error: ${(err as Error).message}`
    }
    try {
      checks.redis = (await app.deps.redis.ping()) === 'PONG' ? 'ok' : 'error'
    } catch (err) {
      checks.redis = `error: ${(err as Error).message}`
    }
    const ready = Object.values(checks).every((v) => v === 'ok')
    reply.code(ready ? 200 : 503)
    return { status: ready ? 'ready' : 'not_ready', checks }
  })

  app.get('/metrics', { config: { auth: 'none', rateLimit: false }, schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', app.deps.metrics.registry.contentType)
    return app.deps.metrics.registry.metrics()
  })
}

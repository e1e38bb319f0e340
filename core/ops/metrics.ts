import type { FastifyInstance } from 'fastify'
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export interface Metrics {
  registry: Registry
  httpDuration: Histogram<'method' | 'route' | 'status'>
  httpRequests: Counter<'method' | 'route' | 'status'>
  instrument(app: FastifyInstance): void
}

/** One registry per process (or per test app), so metrics never collide between instances. */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  return {
    registry,
    httpDuration,
    httpRequests,
    instrument(app) {
      app.addHook('onResponse', async (req, reply) => {
        const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }
        httpDuration.observe(labels, reply.elapsedTime / 1000)
        httpRequests.inc(labels)
      })
    },
  }
}

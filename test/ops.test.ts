import { createHash, randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import pino from 'pino'
import t from 'tap'
import type { Test } from 'tap'
import type { Config } from '../core/kernel/config'
import { buildApp } from '../core/http/app'
import { startWorker } from '../core/jobs/worker'
import { PLATFORM_TOKEN, setupTestEnv, TestEnv } from './helpers/app'

/** A second app on the same database and Redis with different settings; closed with the test. */
async function extraApp(
  t: Test,
  env: TestEnv,
  overrides: Partial<Config>,
  opts: { redis?: Redis; loggerStream?: NodeJS.WritableStream; beforeReady?: (app: FastifyInstance) => void } = {},
): Promise<FastifyInstance> {
  const app = await buildApp(
    { config: { ...env.config, ...overrides }, db: env.db, redis: opts.redis ?? env.redis },
    opts.loggerStream ? { loggerStream: opts.loggerStream } : { logger: false },
  )
  opts.beforeReady?.(app)
  await app.ready()
  t.teardown(() => app.close())
  return app
}

t.test('operations', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('/health answers 200', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/health' })
    t.equal(res.statusCode, 200)
    t.same(res.json(), { status: 'ok' })
    t.match(res.headers['request-id'], /^req_/)
  })

  await t.test('/ready checks postgres, redis and migrations', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/ready' })
    t.equal(res.statusCode, 200, res.body)
    t.same(res.json(), { status: 'ready', checks: { postgres: 'ok', redis: 'ok', migrations: 'ok' } })
  })

  await t.test('/ready answers 503 when Redis is unreachable', async (t) => {
    const deadRedis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    deadRedis.on('error', () => undefined) // the refused connection is the point of the test
    t.teardown(() => deadRedis.disconnect())
    const app = await extraApp(t, env, {}, { redis: deadRedis })
    const res = await app.inject({ method: 'GET', url: '/ready' })
    t.equal(res.statusCode, 503, res.body)
    const body = res.json()
    t.equal(body.status, 'not_ready')
    t.equal(body.checks.postgres, 'ok')
    t.equal(body.checks.migrations, 'ok')
    t.match(body.checks.redis, /^error/)
    t.ok(res.headers['request-id'])
  })

  await t.test('/metrics serves Prometheus text with request counters', async (t) => {
    await env.app.inject({ method: 'GET', url: '/health' })
    const res = await env.app.inject({ method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /^text\/plain/)
    t.match(res.body, /# TYPE http_requests_total counter/)
    t.match(res.body, /http_requests_total\{method="GET",route="\/health",status="200"\} \d+/)
    t.match(res.body, /# TYPE http_request_duration_seconds histogram/)
    t.match(res.body, /process_cpu_user_seconds_total/)
  })

  await t.test('/docs serves the OpenAPI UI', async (t) => {
    let res = await env.app.inject({ method: 'GET', url: '/docs' })
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
      const location = String(res.headers.location)
      res = await env.app.inject({ method: 'GET', url: location.startsWith('/') ? location : `/docs/${location.replace(/^\.\//, '')}` })
    }
    t.equal(res.statusCode, 200)
    t.match(res.headers['content-type'], /text\/html/)
    t.match(res.body, /swagger-ui/i)
    const json = await env.app.inject({ method: 'GET', url: '/docs/json' })
    t.equal(json.statusCode, 200)
    t.match(json.json(), { openapi: /^3\./, paths: { '/v1/tenants': {} } })
  })

  await t.test('unknown route: 404 route_not_found in the error format', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/v1/nope?x=1' })
    t.equal(res.statusCode, 404)
    t.match(res.headers['content-type'], /application\/json/)
    const body = res.json()
    t.match(body, { error: { type: 'not_found', code: 'route_not_found', message: String } })
    t.equal(body.error.request_id, res.headers['request-id'])
    const badUrl = await env.app.inject({ method: 'GET', url: '/v1/%zz' })
    t.equal(badUrl.statusCode, 400)
    t.match(badUrl.json(), { error: { type: 'invalid_request', code: 'validation_failed', request_id: badUrl.headers['request-id'] } })
  })

  await t.test('malformed requests get a clear 4xx and a request id', async (t) => {
    const auth = { authorization: `Bearer ${PLATFORM_TOKEN}` }
    const badJson = await env.app.inject({ method: 'POST', url: '/v1/tenants', headers: { ...auth, 'content-type': 'application/json' }, payload: '{"name": "x",' })
    t.equal(badJson.statusCode, 400)
    t.equal(badJson.json().error.code, 'invalid_json')
    t.ok(badJson.headers['request-id'])

    for (const type of ['application/xml', 'text/plain', 'application/x-www-form-urlencoded']) {
      const res = await env.app.inject({ method: 'POST', url: '/v1/tenants', headers: { ...auth, 'content-type': type }, payload: 'name=x' })
      t.equal(res.statusCode, 415, type)
      t.equal(res.json().error.code, 'unsupported_media_type', type)
      t.ok(res.headers['request-id'])
    }
    t.equal(await env.admin('tenants').count({ n: '*' }).first().then((r) => Number(r!.n)), 0, 'nothing was written')
  })

  await t.test('a body over BODY_LIMIT_BYTES gets 413 body_too_large', async (t) => {
    const app = await extraApp(t, env, { BODY_LIMIT_BYTES: 2048 })
    const headers = { authorization: `Bearer ${PLATFORM_TOKEN}`, 'content-type': 'application/json' }
    const big = await app.inject({ method: 'POST', url: '/v1/tenants', headers, payload: JSON.stringify({ name: 'x'.repeat(4096), base_currency: 'usd' }) })
    t.equal(big.statusCode, 413)
    t.match(big.json(), { error: { type: 'invalid_request', code: 'body_too_large' } })
    t.ok(big.headers['request-id'])
    const small = await app.inject({ method: 'POST', url: '/v1/tenants', headers, payload: JSON.stringify({ name: 'Small', base_currency: 'usd' }) })
    t.equal(small.statusCode, 201, small.body)
  })

  await t.test('rate limit per API key: 429 rate_limited with retry-after', async (t) => {
    const app = await extraApp(t, env, { RATE_LIMIT_MAX: 5 })
    const a = await env.tenant()
    const b = await env.tenant()
    const get = (key: string) => app.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer ${key}` } })
    for (let i = 0; i < 5; i++) t.equal((await get(a.key)).statusCode, 200)
    const limited = await get(a.key)
    t.equal(limited.statusCode, 429)
    t.match(limited.json(), { error: { type: 'rate_limit', code: 'rate_limited' } })
    t.match(String(limited.headers['retry-after']), /^\d+$/)
    t.ok(limited.headers['request-id'])
    t.equal((await get(b.key)).statusCode, 200, 'another key has its own budget')
    const health = await app.inject({ method: 'GET', url: '/health', headers: { authorization: `Bearer ${a.key}` } })
    t.equal(health.statusCode, 200, 'probes are not rate limited')
    // A bad key is limited as well: the limiter runs before authentication.
    const bad = 'sk_live_' + randomBytes(48).toString('base64url') // unique: the limiter's Redis outlives a run
    for (let i = 0; i < 5; i++) t.equal((await get(bad)).statusCode, 401)
    t.equal((await get(bad)).statusCode, 429, 'requests with an invalid key are rate limited too')
    const stored = await env.redis.keys(`recv:ratelimit:${env.config.QUEUE_PREFIX}:*`)
    // (Other test files share this Redis: look for these secrets, not for any 'sk_', which a hash can contain.)
    const secrets = [a.key, b.key, bad].flatMap((k) => [k, k.slice('sk_live_'.length)])
    t.notOk(stored.some((k) => secrets.some((s) => k.includes(s))), 'no secret in a Redis key')
    t.ok(stored.includes(`recv:ratelimit:${env.config.QUEUE_PREFIX}:key:${createHash('sha256').update(a.key).digest('base64url')}`), 'the key is stored hashed')
  })

  await t.test('concurrent requests of one key are counted one by one, within one window', async (t) => {
    // Requests that arrive together are counted in one Redis call (core/http/rate-limit-store.ts):
    // each must still get its own count, so exactly the budget passes and the rest is refused.
    const app = await extraApp(t, env, { RATE_LIMIT_MAX: 7 })
    const a = await env.tenant()
    const get = () => app.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer ${a.key}` } })
    const first = await Promise.all(Array.from({ length: 12 }, get))
    t.same(first.map((r) => r.statusCode).sort(), [...Array(7).fill(200), ...Array(5).fill(429)], 'seven of twelve pass')
    const remaining = first.filter((r) => r.statusCode === 200).map((r) => Number(r.headers['x-ratelimit-remaining']))
    t.same(remaining.sort(), [0, 1, 2, 3, 4, 5, 6], 'each passing request saw its own count')
    const resets = new Set(first.map((r) => r.headers['x-ratelimit-reset']))
    t.ok(resets.size <= 2, 'one window (its reset in seconds may tick over between answers)')
    t.equal((await get()).statusCode, 429, 'and the next one alone is refused as well')
    // A second key in the same turn counts apart.
    const b = await env.tenant()
    const mixed = await Promise.all([get(), app.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer ${b.key}` } })])
    t.same(mixed.map((r) => r.statusCode), [429, 200])
  })

  await t.test('rate limit counts the key, not the spelling of the Authorization header', async (t) => {
    const app = await extraApp(t, env, { RATE_LIMIT_MAX: 3 })
    const a = await env.tenant()
    const b = await env.tenant()
    const get = (authorization: string) => app.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization } })
    for (let i = 0; i < 3; i++) t.equal((await get(`Bearer ${a.key}`)).statusCode, 200)
    t.equal((await get(`Bearer ${a.key}`)).statusCode, 429)
    for (const spelling of [`bearer ${a.key}`, `BEARER ${a.key}`, `Bearer  ${a.key}`, `Bearer\t${a.key}`, `bEaReR ${a.key} `, ` Bearer ${a.key}`]) {
      const res = await get(spelling)
      t.equal(res.statusCode, 429, JSON.stringify(spelling))
      t.match(res.json(), { error: { code: 'rate_limited' } })
    }
    t.equal((await get(`bearer ${b.key}`)).statusCode, 200, 'another key is not limited')
    // Tokens that cannot be a key count against the client address: made-up strings buy no budget.
    const ip = await extraApp(t, env, { RATE_LIMIT_MAX: 3 })
    const remoteAddress = `10.${[...randomBytes(3)].join('.')}` // fresh: the limiter's Redis outlives a run
    const junk = (n: number) => ip.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer junk-${randomBytes(4).toString('hex')}-${n}` }, remoteAddress })
    for (let i = 0; i < 3; i++) t.equal((await junk(i)).statusCode, 401)
    t.equal((await junk(9)).statusCode, 429, 'junk tokens share the address budget')
    const none = await ip.inject({ method: 'GET', url: '/v1/api-keys', remoteAddress })
    t.equal(none.statusCode, 429, 'so does a request without a key')
    // So do tokens shaped like keys that are none: a fresh made-up secret each time buys nothing.
    const forger = `10.${[...randomBytes(3)].join('.')}`
    const forged = () => ip.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer sk_live_${randomBytes(48).toString('base64url')}` }, remoteAddress: forger })
    for (let i = 0; i < 3; i++) t.equal((await forged()).statusCode, 401)
    t.equal((await forged()).statusCode, 429, 'made-up key-shaped tokens share the address budget')
    t.equal((await ip.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer ${b.key}` }, remoteAddress: forger })).statusCode, 200, 'a real key from that address keeps its own budget')
  })

  await t.test('logs never contain secrets', async (t) => {
    const lines: string[] = []
    const stream = new Writable({
      write(chunk, _enc, cb) {
        lines.push(...String(chunk).split('\n').filter(Boolean))
        cb()
      },
    })
    const app = await extraApp(t, env, { LOG_LEVEL: 'trace' }, {
      loggerStream: stream,
      // What a careless handler might do: log the request headers and body wholesale.
      beforeReady: (app) =>
        app.post('/test/echo', { config: { auth: 'none' }, schema: { hide: true } }, async (req) => {
          req.log.info({ headers: req.headers, body: req.body }, 'echo')
          return { ok: true }
        }),
    })
    const created = await app.inject({
      method: 'POST',
      url: '/v1/tenants',
      headers: { authorization: `Bearer ${PLATFORM_TOKEN}` },
      payload: { name: 'Logged', base_currency: 'usd' },
    })
    t.equal(created.statusCode, 201)
    const apiKey: string = created.json().api_key
    const minted = await app.inject({ method: 'POST', url: '/v1/api-keys', headers: { authorization: `Bearer ${apiKey}` }, payload: { name: 'k', role: 'cashier' } })
    t.equal(minted.statusCode, 201)
    const secret: string = minted.json().secret
    await app.inject({ method: 'GET', url: '/v1/api-keys', headers: { authorization: `Bearer ${secret}` } }) // 403, logged
    await app.inject({
      method: 'POST',
      url: '/test/echo',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'idem-123' },
      payload: { api_key: apiKey, secret, password: 'hunter2-password' },
    })
    await new Promise((r) => setImmediate(r))

    t.ok(lines.length > 5, 'requests were logged')
    t.ok(lines.some((l) => l.includes('"echo"')), 'the echo line was logged')
    t.ok(lines.some((l) => l.includes('[redacted]')), 'secrets were censored')
    const out = lines.join('\n')
    for (const [what, value] of Object.entries({ PLATFORM_TOKEN, apiKey, secret, password: 'hunter2-password' })) {
      t.notOk(out.includes(value), `${what} is not in the logs`)
    }
    t.notOk(/Bearer /.test(out), 'no Authorization header value in the logs')
  })

  await t.test('the worker runs the heartbeat and closes cleanly', async (t) => {
    const log = pino({ level: 'silent' })
    const worker = await startWorker({ config: env.config, db: env.db, log })
    const [queue] = worker.queues
    t.teardown(async () => {
      // The queue prefix is unique to this test file: drop its keys.
      const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
      if (keys.length) await env.redis.del(...keys)
    })
    const deadline = Date.now() + 10000
    let completed = 0
    while ((completed = await queue.getCompletedCount()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    t.ok(completed >= 1, `heartbeat completed (${completed})`)
    const [job] = await queue.getCompleted()
    t.match(job.returnvalue, { at: /^\d{4}-\d\d-\d\dT/ })
    t.equal((await queue.getRepeatableJobs()).length, 1, 'one repeatable heartbeat')
    t.equal(await queue.getFailedCount(), 0)
    await worker.close()
    t.equal(queue.client.status, 'end', 'redis connections closed')
  })
})

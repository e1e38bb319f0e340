import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { DEFAULT_RETRY_SCHEDULE_MS, deliverAttempt, deliverySettings, judge, parseRetryAfter, sweepTenant } from '../core/webhooks/delivery'
import { PLATFORM_TOKEN, setupTestEnv, type ApiClient, type TestEnv } from './helpers/app'
import { sleep, startReceiver, startTestWorker, waitFor, type Receiver } from './helpers/webhooks'

const RETRY_MS = 100

t.test('webhook endpoints API', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)

  await t.test('create shows the secret once; reads never do', async (t) => {
    const res = await api.post('/v1/webhook-endpoints', { url: 'https://hooks.example.com/ar', events: ['invoice.paid', 'payment.created'], description: 'ERP' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, {
      object: 'webhook_endpoint',
      url: 'https://hooks.example.com/ar',
      events: ['invoice.paid', 'payment.created'],
      description: 'ERP',
      status: 'enabled',
      disabled_reason: null,
      previous_secret_expires_at: null,
    })
    t.match(res.body.id, /^we_[0-9a-z]{26}$/)
    t.match(res.body.secret, /^whsec_/)
    t.equal(Buffer.from(res.body.secret.slice(6), 'base64').length, 32)

    const read = await api.get(`/v1/webhook-endpoints/${res.body.id}`)
    t.equal(read.statusCode, 200)
    t.notOk('secret' in read.body)
    const { secret: _secret, ...shown } = res.body
    t.same(read.body, shown)

    const list = await api.get('/v1/webhook-endpoints')
    t.equal(list.body.data[0].id, res.body.id)
    t.notOk(list.raw.includes('whsec_'))

    const all = await api.post('/v1/webhook-endpoints', { url: 'http://hooks.example.com:8080/all', events: ['*'] })
    t.equal(all.statusCode, 201, all.raw)
    t.same(all.body.events, ['*'])
  })

  await t.test('invalid URLs and event types are refused with nothing written', async (t) => {
    const before = Number((await env.admin('webhook_endpoints').count('* as n'))[0].n)
    const bad: [unknown, string][] = [
      [{ url: 'ftp://hooks.example.com/', events: ['*'] }, 'url'],
      [{ url: 'file:///etc/passwd', events: ['*'] }, 'url'],
      [{ url: 'https://user:pw@hooks.example.com/', events: ['*'] }, 'url'],
      [{ url: 'not a url', events: ['*'] }, 'url'],
      [{ url: `https://hooks.example.com/${'a'.repeat(2048)}`, events: ['*'] }, 'url'],
      [{ url: 'https://hooks.example.com/', events: ['invoice.exploded'] }, 'events.0'],
      [{ url: 'https://hooks.example.com/', events: [] }, 'events'],
      [{ url: 'https://hooks.example.com/', events: ['*', 'invoice.paid'] }, 'events'],
      [{ url: 'https://hooks.example.com/', events: ['invoice.paid', 'invoice.paid'] }, 'events'],
      [{ url: 'https://hooks.example.com/' }, 'events'],
      [{ url: 'https://hooks.example.com/', events: ['*'], secret: 'whsec_mine' }, 'secret'],
    ]
    for (const [body, param] of bad) {
      const res = await api.post('/v1/webhook-endpoints', body)
      t.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.raw.slice(0, 200)}`)
      t.equal(res.body.error.param, param)
    }
    t.equal(Number((await env.admin('webhook_endpoints').count('* as n'))[0].n), before)
  })

  await t.test('update, disable and re-enable, delete', async (t) => {
    const ep = (await api.post('/v1/webhook-endpoints', { url: 'https://a.example.com/', events: ['*'] })).body
    const patched = await api.patch(`/v1/webhook-endpoints/${ep.id}`, { url: 'https://b.example.com/', events: ['sale.created'], description: null })
    t.equal(patched.statusCode, 200, patched.raw)
    t.match(patched.body, { url: 'https://b.example.com/', events: ['sale.created'], description: null })
    t.equal((await api.patch(`/v1/webhook-endpoints/${ep.id}`, { url: 'gopher://x/' })).statusCode, 400)
    t.equal((await api.patch(`/v1/webhook-endpoints/${ep.id}`, {})).statusCode, 400)

    const disabled = await api.patch(`/v1/webhook-endpoints/${ep.id}`, { status: 'disabled' })
    t.match(disabled.body, { status: 'disabled', disabled_reason: /disabled by key_/ })
    const enabled = await api.patch(`/v1/webhook-endpoints/${ep.id}`, { status: 'enabled' })
    t.match(enabled.body, { status: 'enabled', disabled_reason: null })

    const del = await api.delete(`/v1/webhook-endpoints/${ep.id}`)
    t.equal(del.statusCode, 200, del.raw)
    t.same(del.body, { id: ep.id, object: 'webhook_endpoint', deleted: true })
    t.equal((await api.get(`/v1/webhook-endpoints/${ep.id}`)).statusCode, 404)
    t.equal((await api.delete(`/v1/webhook-endpoints/${ep.id}`)).statusCode, 404)
    t.equal((await api.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`)).statusCode, 404)
    t.notOk((await api.get('/v1/webhook-endpoints')).body.data.some((e: { id: string }) => e.id === ep.id))

    const audit = await env.admin('audit_log').where({ entity_id: ep.id }).orderBy('seq')
    t.same(
      audit.map((a: { action: string }) => a.action),
      ['webhook_endpoint.created', 'webhook_endpoint.updated', 'webhook_endpoint.updated', 'webhook_endpoint.updated', 'webhook_endpoint.deleted'],
    )
    t.notOk(JSON.stringify(audit).includes('whsec_'), 'no secret in audit rows')
  })

  await t.test('permissions and tenant isolation', async (t) => {
    const ep = (await api.post('/v1/webhook-endpoints', { url: 'https://c.example.com/', events: ['*'] })).body
    const accountant = env.api((await env.key(tenant.key, 'accountant')).secret)
    t.equal((await accountant.get('/v1/webhook-endpoints')).statusCode, 200, 'accountant reads')
    t.equal((await accountant.get(`/v1/webhook-endpoints/${ep.id}/deliveries`)).statusCode, 200)
    t.equal((await accountant.post('/v1/webhook-endpoints', { url: 'https://x.example.com/', events: ['*'] })).statusCode, 403)
    t.equal((await accountant.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`)).statusCode, 403)
    t.equal((await accountant.delete(`/v1/webhook-endpoints/${ep.id}`)).statusCode, 403)
    const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
    t.equal((await cashier.get('/v1/webhook-endpoints')).statusCode, 403)
    t.equal((await env.api(null).get('/v1/webhook-endpoints')).statusCode, 401)

    const other = env.api((await env.tenant()).key)
    t.same((await other.get('/v1/webhook-endpoints')).body.data, [])
    for (const res of [
      await other.get(`/v1/webhook-endpoints/${ep.id}`),
      await other.patch(`/v1/webhook-endpoints/${ep.id}`, { status: 'disabled' }),
      await other.post(`/v1/webhook-endpoints/${ep.id}/rotate-secret`),
      await other.delete(`/v1/webhook-endpoints/${ep.id}`),
      await other.get(`/v1/webhook-endpoints/${ep.id}/deliveries`),
    ]) {
      t.equal(res.statusCode, 404)
    }
    t.equal((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.status, 'enabled', 'untouched')
  })
})

t.test('retry policy (pure)', async (t) => {
  const now = Date.parse('2026-11-21T12:00:00Z')
  t.equal(parseRetryAfter('120', now), 120_000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('Sat, 21 Nov 2026 12:00:30 GMT', now), 30_000)
  t.equal(parseRetryAfter('Sat, 21 Nov 2026 11:00:00 GMT', now), 0, 'a date in the past means now')
  t.equal(parseRetryAfter('99999999', now), 24 * 3_600_000, 'clamped to a day')
  t.equal(parseRetryAfter('soon', now), null)
  t.equal(parseRetryAfter(undefined, now), null)

  const schedule = DEFAULT_RETRY_SCHEDULE_MS
  t.same(schedule, [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000], '5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h')
  const hours = schedule.reduce((a, b) => a + b, 0) / 3_600_000
  t.ok(hours > 27 && hours < 28, `retries span ${hours.toFixed(1)} h after the first attempt`)
  const response = (status: number, headers: Record<string, string> = {}) => ({ kind: 'response' as const, status, headers, body: '', durationMs: 1 })
  t.same(judge(response(200), 1, schedule), { status: 'delivered' })
  t.same(judge(response(204), 8, schedule), { status: 'delivered' })
  t.same(judge(response(410), 1, schedule), { status: 'failed', disableEndpoint: true })
  t.same(judge(response(500), 8, schedule), { status: 'failed', disableEndpoint: false }, 'after the 8th attempt: dead')
  for (let n = 1; n <= 7; n++) {
    const v = judge(response(500), n, schedule)
    t.equal(v.status, 'pending')
    if (v.status === 'pending') t.ok(v.delayMs >= schedule[n - 1] * 0.9 && v.delayMs <= schedule[n - 1] * 1.1, `attempt ${n}: ${v.delayMs} ms ≈ ${schedule[n - 1]} ± 10 %`)
  }
  const limited = judge(response(429, { 'retry-after': '30' }), 1, schedule, now)
  t.ok(limited.status === 'pending' && limited.delayMs >= 30_000 && limited.delayMs <= 33_000, '429 waits Retry-After (never less)')
  const redirect = judge(response(301), 1, schedule)
  t.equal(redirect.status, 'pending', 'a redirect is a failed attempt')
  t.equal(judge({ kind: 'error', code: 'timeout', message: 'slow', durationMs: 10 }, 2, schedule).status, 'pending')
})

/** Creates a customer (emitting customer.created) and returns the event id once the receiver has it. */
async function customerEvent(api: ApiClient, receiver: Receiver, name: string): Promise<string> {
  const res = await api.post('/v1/customers', { name })
  if (res.statusCode !== 201) throw new Error(res.raw)
  const hit = await waitFor(`a delivery for ${name}`, () => receiver.requests.find((r) => JSON.parse(r.body).data.object.id === res.body.id))
  return hit.headers['webhook-id']
}

async function deliveries(api: ApiClient, endpointId: string) {
  const res = await api.get(`/v1/webhook-endpoints/${endpointId}/deliveries`)
  if (res.statusCode !== 200) throw new Error(res.raw)
  return res.body.data as any[]
}

async function endpoint(env: TestEnv, receiver: Receiver, events = ['customer.created']) {
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const res = await api.post('/v1/webhook-endpoints', { url: receiver.url, events })
  if (res.statusCode !== 201) throw new Error(res.raw)
  return { tenant, api, endpoint: res.body as { id: string; secret: string } }
}

t.test('delivery', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('with the worker running', async (t) => {
    // The worker's settings; the direct calls below (a sweep, racing attempts) use the same ones.
    const settings = deliverySettings({ retryScheduleMs: [RETRY_MS, RETRY_MS, RETRY_MS], timeoutMs: 2000, sweepGraceMs: 0, allowPrivateTargets: env.config.WEBHOOK_ALLOW_PRIVATE_TARGETS })
    await startTestWorker(t, env, settings)

    await t.test('a failing receiver (500, 500, 200) gets retries with the same webhook-id; the log shows 3 attempts', async (t) => {
      const receiver = await startReceiver(t, (n) => (n < 2 ? { status: 500, body: 'boom\u0000' } : { status: 200, body: 'thanks' }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      const eventId = await customerEvent(api, receiver, 'Retry Co')
      await waitFor('three requests', () => receiver.requests.length >= 3)
      t.same(
        receiver.requests.map((r) => r.headers['webhook-id']),
        [eventId, eventId, eventId],
        'the same webhook-id on every attempt',
      )
      for (const r of receiver.requests) t.ok(new Webhook(ep.secret).verify(r.body, r.headers), 'each attempt is signed at its own time and verifies')
      t.equal(new Set(receiver.requests.map((r) => r.body)).size, 1, 'the same body on every attempt')

      const [delivery] = await waitFor('delivered', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'delivered' && d
      })
      t.match(delivery, { event: eventId, event_type: 'customer.created', status: 'delivered', attempt_count: 3, next_attempt_at: null, last_status_code: 200, last_error: null })
      t.same(
        delivery.attempts.map((a: any) => [a.attempt, a.status_code, a.error, a.response_excerpt]),
        [
          [3, 200, null, 'thanks'],
          [2, 500, 'HTTP 500', 'boom'],
          [1, 500, 'HTTP 500', 'boom'],
        ],
      )
      t.ok(delivery.attempts[1].next_attempt_at, 'a failed attempt records when the next one was due')
      const attempts = await api.get(`/v1/webhook-endpoints/${ep.id}/deliveries/${delivery.id}/attempts?limit=2`)
      t.equal(attempts.statusCode, 200, attempts.raw)
      t.same(
        attempts.body.data.map((a: any) => a.attempt),
        [3, 2],
      )
      t.equal(attempts.body.has_more, true)
      await sleep(3 * RETRY_MS)
      t.equal(receiver.requests.length, 3, 'nothing more once delivered')
    })

    await t.test('410 Gone disables the endpoint and stops', async (t) => {
      const receiver = await startReceiver(t, () => ({ status: 410 }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      const eventId = await customerEvent(api, receiver, 'Gone Co')
      const disabled = await waitFor('endpoint disabled', async () => {
        const res = await api.get(`/v1/webhook-endpoints/${ep.id}`)
        return res.body.status === 'disabled' && res.body
      })
      t.match(disabled.disabled_reason, /410/)
      await sleep(3 * RETRY_MS)
      t.equal(receiver.requests.length, 1, 'no retry after 410')
      const [delivery] = await deliveries(api, ep.id)
      t.match(delivery, { event: eventId, status: 'failed', attempt_count: 1, last_status_code: 410, next_attempt_at: null })

      const audit = await env.admin('audit_log').where({ entity_id: ep.id, action: 'webhook_endpoint.disabled' })
      t.equal(audit.length, 1, 'the automatic disable is audited')
      t.match(audit[0], { actor: 'system', reason: /410/ })

      await api.post('/v1/customers', { name: 'After Gone' })
      await sleep(1000)
      t.equal(receiver.requests.length, 1, 'a disabled endpoint gets no new events')
      t.equal((await deliveries(api, ep.id)).length, 1)
    })

    await t.test('429 with Retry-After delays the next attempt by about that long', async (t) => {
      const receiver = await startReceiver(t, (n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      await customerEvent(api, receiver, 'Busy Co')
      await waitFor('the retry', () => receiver.requests.length >= 2)
      const gap = receiver.requests[1].at - receiver.requests[0].at
      t.ok(gap >= 990 && gap < 2500, `second attempt ${gap} ms after the first (Retry-After: 1, schedule ${RETRY_MS} ms)`)
      const [delivery] = await waitFor('delivered', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'delivered' && d
      })
      t.same(
        delivery.attempts.map((a: any) => a.status_code),
        [200, 429],
      )
    })

    await t.test('after the last scheduled attempt the delivery is failed (dead)', async (t) => {
      const receiver = await startReceiver(t, () => ({ status: 503 }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      await customerEvent(api, receiver, 'Down Co')
      const [delivery] = await waitFor('failed', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'failed' && d
      })
      t.match(delivery, { attempt_count: 4, last_status_code: 503, last_error: 'HTTP 503', next_attempt_at: null })
      await sleep(3 * RETRY_MS)
      t.equal(receiver.requests.length, 4, '1 + 3 retries, then nothing')
      t.equal((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.status, 'enabled', 'a dead delivery does not disable the endpoint')

      await t.test('manual redelivery starts a new cycle with the same webhook-id', async (t) => {
        receiver.respond = () => ({ status: 200 })
        const res = await api.post(`/v1/events/${delivery.event}/redeliver`)
        t.equal(res.statusCode, 202, res.raw)
        t.match(res.body.data, [{ id: delivery.id, status: 'pending' }])
        await waitFor('the redelivery', () => receiver.requests.length >= 5)
        t.equal(receiver.requests[4].headers['webhook-id'], delivery.event)
        const [after] = await waitFor('delivered', async () => {
          const d = await deliveries(api, ep.id)
          return d[0]?.status === 'delivered' && d
        })
        t.equal(after.attempt_count, 5, 'the log keeps every attempt')
      })
    })

    await t.test('a dead-lettered delivery job retried by the platform operator is attempted again, once', async (t) => {
      const receiver = await startReceiver(t, () => ({ status: 503 }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      await customerEvent(api, receiver, 'Dead Letter Co')
      const [dead] = await waitFor('failed', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'failed' && d
      })
      t.equal(receiver.requests.length, 4)
      const platform = env.api(PLATFORM_TOKEN)
      const letters = (await platform.get('/v1/platform/dead-letters?queue=webhook-delivery&limit=100')).body.data.filter((l: any) => l.data?.deliveryId === dead.id || l.data?.deliveries?.some((x: any) => x.deliveryId === dead.id))
      t.equal(letters.length, 4, 'each refused attempt left a dead-lettered job')
      const last = letters.find((l: any) => /gave up/.test(l.failed_reason))
      t.ok(last, 'the last one says the delivery gave up')

      receiver.respond = () => ({ status: 200 })
      const retried = await platform.post(`/v1/platform/dead-letters/webhook-delivery/${encodeURIComponent(last.id)}/retry`)
      t.equal(retried.statusCode, 200, retried.raw)
      const [after] = await waitFor('delivered', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'delivered' && d
      })
      t.equal(receiver.requests.length, 5, 'one more request, not a replay of the stale attempt')
      t.equal(receiver.requests[4].headers['webhook-id'], dead.event, 'the same webhook-id')
      t.equal(after.attempt_count, 5)
      const audit = await env.admin('audit_log').where({ action: 'webhook_delivery.retried', entity_id: dead.id })
      t.equal(audit.length, 1, 'the retry is audited')
      t.match(audit[0], { actor: 'platform', before: { status: 'failed' }, after: { status: 'pending' } })
      const left = (await platform.get('/v1/platform/dead-letters?queue=webhook-delivery&limit=100')).body.data.map((l: any) => l.id)
      t.notOk(left.includes(last.id), 'the retried dead letter is gone')

      const stale = letters.find((l: any) => l.id !== last.id)
      const again = await platform.post(`/v1/platform/dead-letters/webhook-delivery/${encodeURIComponent(stale.id)}/retry`)
      t.equal(again.statusCode, 422, 'a delivered delivery is not retried')
      t.equal(again.body.error.code, 'invalid_state')
      await sleep(3 * RETRY_MS)
      t.equal(receiver.requests.length, 5, 'nothing more sent')
      t.equal((await platform.post(`/v1/platform/dead-letters/webhook-delivery/${encodeURIComponent(last.id)}/retry`)).statusCode, 404, 'a removed dead letter is gone')
    })

    await t.test('a redirect is not followed and counts as a failed attempt', async (t) => {
      let followed = 0
      const target = await startReceiver(t, () => {
        followed++
        return { status: 200 }
      })
      const receiver = await startReceiver(t, (n) => (n === 0 ? { status: 302, headers: { location: target.url } } : { status: 200 }))
      const { api, endpoint: ep } = await endpoint(env, receiver)
      await customerEvent(api, receiver, 'Moved Co')
      const [delivery] = await waitFor('delivered', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'delivered' && d
      })
      t.equal(followed, 0, 'the Location was never requested')
      t.match(delivery.attempts[1], { status_code: 302, error: 'redirect (302) not followed' })
    })

    await t.test('only subscribed endpoints get an event; a deleted endpoint gets nothing', async (t) => {
      const receiver = await startReceiver(t)
      const { api, endpoint: ep } = await endpoint(env, receiver, ['customer.updated'])
      const wildcard = await api.post('/v1/webhook-endpoints', { url: receiver.url.replace('/hooks', '/all'), events: ['*'] })
      const c = await api.post('/v1/customers', { name: 'Filter Co' })
      await waitFor('the wildcard delivery', () => receiver.requests.length >= 1)
      await sleep(300)
      t.equal(receiver.requests.length, 1, 'customer.created reached only the wildcard endpoint')
      t.equal((await deliveries(api, ep.id)).length, 0)
      await api.patch(`/v1/customers/${c.body.id}`, { name: 'Filter Co 2' })
      await waitFor('two deliveries of customer.updated', () => receiver.requests.length >= 3)
      t.same(receiver.requests.map((r) => JSON.parse(r.body).type).sort(), ['customer.created', 'customer.updated', 'customer.updated'])

      await api.delete(`/v1/webhook-endpoints/${wildcard.body.id}`)
      await api.delete(`/v1/webhook-endpoints/${ep.id}`)
      await api.post('/v1/customers', { name: 'Nobody Listens' })
      await sleep(1000)
      t.equal(receiver.requests.length, 3)
    })

    await t.test('the deliveries table is the source of truth: the sweeper re-enqueues a lost job, and an attempt is claimed once', async (t) => {
      const receiver = await startReceiver(t)
      const { tenant, api, endpoint: ep } = await endpoint(env, receiver)
      await customerEvent(api, receiver, 'Lost Co')
      const [delivery] = await waitFor('delivered', async () => {
        const d = await deliveries(api, ep.id)
        return d[0]?.status === 'delivered' && d
      })
      // As if its job had been lost with Redis: pending, due a minute ago, no job anywhere.
      await env.admin('webhook_deliveries').where({ id: delivery.id }).update({ status: 'pending', next_attempt_at: env.admin.raw(`now() - interval '1 minute'`), cycle_start: 1 })
      t.equal(await sweepTenant(env.db, tenant.uuid, settings), 1, 'one due delivery re-enqueued')
      await waitFor('the swept attempt', () => receiver.requests.length >= 2)
      await waitFor('delivered again', async () => (await deliveries(api, ep.id))[0].status === 'delivered')
      t.equal(await sweepTenant(env.db, tenant.uuid, settings), 0, 'nothing left to sweep')

      // Two jobs for the same attempt (a duplicate, a sweep racing the original): one sends.
      await env.admin('webhook_deliveries').where({ id: delivery.id }).update({ status: 'pending', next_attempt_at: env.admin.raw('now()'), cycle_start: 2 })
      const results = await Promise.all([deliverAttempt(env.db, tenant.uuid, delivery.id, 2, settings), deliverAttempt(env.db, tenant.uuid, delivery.id, 2, settings)])
      t.same(results.map((r) => r.status).sort(), ['delivered', 'skipped'])
      t.same(await deliverAttempt(env.db, tenant.uuid, delivery.id, 2, settings), { deliveryId: delivery.id, attempt: 2, status: 'skipped' }, 'a stale job is a no-op')
      t.equal(receiver.requests.length, 3)
      t.equal((await deliveries(api, ep.id))[0].attempt_count, 3)
    })
  })
})

t.test('private targets are refused when the development setting is off', async (t) => {
  const env = await setupTestEnv(t, { WEBHOOK_ALLOW_PRIVATE_TARGETS: false })

  await t.test('with the worker running', async (t) => {
    await startTestWorker(t, env, { retryScheduleMs: [RETRY_MS], timeoutMs: 2000 })
    const receiver = await startReceiver(t)
    const { api, endpoint: ep } = await endpoint(env, receiver)
    t.equal((await api.get(`/v1/webhook-endpoints/${ep.id}`)).body.status, 'enabled', 'the URL shape is fine; the address is checked at connect time')
    await api.post('/v1/customers', { name: 'SSRF Co' })
    const [delivery] = await waitFor('failed', async () => {
      const d = await deliveries(api, ep.id)
      return d[0]?.status === 'failed' && d
    })
    t.equal(delivery.attempt_count, 2)
    for (const a of delivery.attempts) {
      t.match(a, { status_code: null, error: /^ssrf_refused: refused to connect to 127\.0\.0\.1 \(loopback address\)/, duration_ms: 0 })
    }
    t.equal(receiver.requests.length, 0, 'the receiver saw no request')
    t.equal(receiver.connections(), 0, 'nor any TCP connection')

    // A hostname is resolved and checked at connect time.
    const byName = await api.patch(`/v1/webhook-endpoints/${ep.id}`, { url: `http://localhost:${receiver.port}/hooks` })
    t.equal(byName.statusCode, 200)
    const res = await api.post(`/v1/events/${delivery.event}/redeliver`)
    t.equal(res.statusCode, 202)
    const [again] = await waitFor('failed again', async () => {
      const d = await deliveries(api, ep.id)
      return d[0]?.status === 'failed' && d[0].attempt_count === 4 && d
    })
    t.match(again.attempts[0].error, /^ssrf_refused: .*loopback/)
    t.equal(receiver.connections(), 0, 'still no TCP connection')
  })
})

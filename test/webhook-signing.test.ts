import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { generateWebhookSecret, sign, signedHeaders } from '../core/webhooks/signing'
import { setupTestEnv } from './helpers/app'
import { startReceiver, startTestWorker, waitFor, type Received } from './helpers/webhooks'

const nowSeconds = () => Math.floor(Date.now() / 1000)

t.test('signing agrees with the standardwebhooks library', async (t) => {
  const secret = generateWebhookSecret()
  t.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.equal(Buffer.from(secret.slice(6), 'base64').length, 32, '32 random bytes')
  t.not(generateWebhookSecret(), secret)

  const body = JSON.stringify({ id: 'evt_1', type: 'invoice.paid', data: { object: { amount: 1999, note: 'ünïcødé' } } })
  const at = new Date(1_700_000_000_000)
  t.equal(sign(secret, 'evt_1', 1_700_000_000, body), new Webhook(secret).sign('evt_1', at, body))

  const headers = signedHeaders([secret], 'evt_1', nowSeconds(), body)
  t.same(Object.keys(headers).sort(), ['webhook-id', 'webhook-signature', 'webhook-timestamp'])
  t.same(new Webhook(secret).verify(body, headers), JSON.parse(body))

  const other = generateWebhookSecret()
  const both = signedHeaders([other, secret], 'evt_1', nowSeconds(), body)
  t.equal(both['webhook-signature'].split(' ').length, 2, 'one signature per secret, space-separated')
  t.ok(new Webhook(secret).verify(body, both))
  t.ok(new Webhook(other).verify(body, both))
  t.throws(() => new Webhook(generateWebhookSecret()).verify(body, both), /No matching signature/)
})

t.test('signed deliveries', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('with the worker running', async (t) => {
    await startTestWorker(t, env, { retryScheduleMs: [100, 100, 100], timeoutMs: 2000 })
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const receiver = await startReceiver(t)
    const created = await api.post('/v1/webhook-endpoints', { url: receiver.url, events: ['customer.created'] })
    t.equal(created.statusCode, 201, created.raw)
    const oldSecret: string = created.body.secret

    const customer = async (name: string) => {
      const res = await api.post('/v1/customers', { name, email: `${name.toLowerCase()}@example.com` })
      t.equal(res.statusCode, 201, res.raw)
      const before = receiver.requests.length
      return waitFor(`delivery for ${name}`, () => receiver.requests.slice(before).find((r) => JSON.parse(r.body).data.object.id === res.body.id))
    }

    let first: Received
    await t.test('a delivery verifies with the endpoint secret and carries the API event object', async (t) => {
      first = await customer('Jane')
      const payload = new Webhook(oldSecret).verify(first.body, first.headers) as Record<string, any>
      const event = await api.get(`/v1/events/${payload.id}`)
      t.equal(event.statusCode, 200)
      t.same(payload, event.body, 'the body is the event object of GET /v1/events/:id')
      t.equal(first.headers['webhook-id'], payload.id, 'webhook-id is the event id')
      t.match(payload, { object: 'event', type: 'customer.created', tenant: tenant.id, data: { object: { name: 'Jane', email: 'jane@example.com' } } })
      t.ok(Math.abs(Number(first.headers['webhook-timestamp']) - nowSeconds()) <= 5, 'timestamped at send time')
      t.match(first.headers['webhook-signature'], /^v1,[A-Za-z0-9+/]+=*$/, 'one signature before any rotation')
      t.equal(first.headers['content-type'], 'application/json')
    })

    await t.test('a tampered body, id or signature does not verify', async (t) => {
      const wh = new Webhook(oldSecret)
      t.throws(() => wh.verify(first.body.replace('Jane', 'Joan'), first.headers), /No matching signature/)
      t.throws(() => wh.verify(first.body + ' ', first.headers), /No matching signature/)
      t.throws(() => wh.verify(first.body, { ...first.headers, 'webhook-id': 'evt_other' }), /No matching signature/)
      t.throws(() => wh.verify(first.body, { ...first.headers, 'webhook-signature': first.headers['webhook-signature'].replace(/.,/, 'v1,A') }), /No matching signature/)
      t.throws(() => new Webhook(generateWebhookSecret()).verify(first.body, first.headers), /No matching signature/)
    })

    await t.test('an old timestamp does not verify', async (t) => {
      const wh = new Webhook(oldSecret)
      const old = nowSeconds() - 6 * 60
      // The delivery replayed with an old timestamp, and a correctly signed message that is too old.
      t.throws(() => wh.verify(first.body, { ...first.headers, 'webhook-timestamp': String(old) }), /too old/)
      t.throws(() => wh.verify(first.body, signedHeaders([oldSecret], first.headers['webhook-id'], old, first.body)), /too old/)
      t.ok(wh.verify(first.body, signedHeaders([oldSecret], first.headers['webhook-id'], nowSeconds() - 4 * 60, first.body)), 'within 5 minutes it does')
    })

    await t.test('rotation: both secrets verify during the overlap, only the new one after it', async (t) => {
      const rotated = await api.post(`/v1/webhook-endpoints/${created.body.id}/rotate-secret`)
      t.equal(rotated.statusCode, 200, rotated.raw)
      const newSecret: string = rotated.body.secret
      t.match(newSecret, /^whsec_/)
      t.not(newSecret, oldSecret)
      const overlapHours = (Date.parse(rotated.body.previous_secret_expires_at) - Date.now()) / 3_600_000
      t.ok(overlapHours > 23.9 && overlapHours <= 24, `the old secret keeps signing for 24 h (${overlapHours.toFixed(3)} h)`)

      const during = await customer('Kim')
      t.equal(during.headers['webhook-signature'].split(' ').length, 2, 'two signatures during the overlap')
      t.ok(new Webhook(oldSecret).verify(during.body, during.headers), 'the old secret verifies')
      t.ok(new Webhook(newSecret).verify(during.body, during.headers), 'the new secret verifies the same delivery')

      // End the overlap (as 24 h passing would).
      await env.admin('webhook_endpoints').where({ id: created.body.id }).update({ previous_secret_expires_at: env.admin.raw(`now() - interval '1 second'`) })
      const after = await customer('Lee')
      t.equal(after.headers['webhook-signature'].split(' ').length, 1)
      t.ok(new Webhook(newSecret).verify(after.body, after.headers))
      t.throws(() => new Webhook(oldSecret).verify(after.body, after.headers), /No matching signature/, 'the old secret no longer verifies')
      t.equal((await api.get(`/v1/webhook-endpoints/${created.body.id}`)).body.previous_secret_expires_at, null)
    })

    await t.test('secrets never appear in reads, audit rows or the delivery log', async (t) => {
      const read = await api.get(`/v1/webhook-endpoints/${created.body.id}`)
      const list = await api.get('/v1/webhook-endpoints')
      const log = await api.get(`/v1/webhook-endpoints/${created.body.id}/deliveries`)
      for (const res of [read, list, log]) t.notOk(res.raw.includes('whsec_'), 'no secret in the response')
      const audit = await env.admin('audit_log').where({ entity_id: created.body.id })
      t.same(audit.map((a: { action: string }) => a.action).sort(), ['webhook_endpoint.created', 'webhook_endpoint.secret_rotated'])
      t.notOk(JSON.stringify(audit).includes('whsec_'), 'no secret in the audit rows')
    })
  })
})

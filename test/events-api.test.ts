import t from 'tap'
import { setupTestEnv } from './helpers/app'

t.test('events API', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)

  const jane = await api.post('/v1/customers', { name: 'Jane', email: 'jane@example.com', phone: '+15550100123', tax_id: 'TX-998877' })
  t.equal(jane.statusCode, 201, jane.raw)
  const bob = await api.post('/v1/customers', { name: 'Bob' }, { 'idempotency-key': 'create-bob' })
  t.equal(bob.statusCode, 201, bob.raw)
  const updated = await api.patch(`/v1/customers/${bob.body.id}`, { name: 'Robert' })
  t.equal(updated.statusCode, 200, updated.raw)

  await t.test('lists events newest first, filtered by type, with cursor pagination', async (t) => {
    const all = await api.get('/v1/events')
    t.equal(all.statusCode, 200, all.raw)
    t.match(all.body, { object: 'list', has_more: false })
    t.same(
      all.body.data.map((e: { type: string }) => e.type),
      ['customer.updated', 'customer.created', 'customer.created'],
    )
    const ids = all.body.data.map((e: { id: string }) => e.id)
    t.same([...ids].sort().reverse(), ids, 'sorted by id, newest first')

    const created = await api.get('/v1/events?type=customer.created')
    t.same(
      created.body.data.map((e: { data: { object: { id: string } } }) => e.data.object.id),
      [bob.body.id, jane.body.id],
    )

    const first = await api.get('/v1/events?limit=1')
    t.equal(first.body.data.length, 1)
    t.equal(first.body.has_more, true)
    const second = await api.get(`/v1/events?limit=2&starting_after=${first.body.data[0].id}`)
    t.same(
      second.body.data.map((e: { id: string }) => e.id),
      ids.slice(1),
    )
    t.equal(second.body.has_more, false)

    t.equal((await api.get('/v1/events?type=DROP TABLE')).statusCode, 400)
    t.equal((await api.get('/v1/events?limit=101')).statusCode, 400)
    t.equal((await api.get('/v1/events?unknown=1')).statusCode, 400)
  })

  await t.test('retrieves one event: the API event object', async (t) => {
    const list = await api.get('/v1/events?type=customer.created&limit=1')
    const id = list.body.data[0].id
    const res = await api.get(`/v1/events/${id}`)
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, {
      id,
      object: 'event',
      type: 'customer.created',
      tenant: tenant.id,
      data: { object: { id: bob.body.id, object: 'customer', name: 'Bob' } },
      request: { idempotency_key: 'create-bob' },
    })
    t.match(res.body.request.id, /^req_/)
    t.match(res.body.created, /^\d{4}-\d\d-\d\dT.*Z$/)

    t.equal((await api.get('/v1/events/evt_00000000000000000000000000')).statusCode, 404)
    t.equal((await api.get('/v1/events/not-an-id')).statusCode, 400)
  })

  await t.test("another tenant's events are invisible", async (t) => {
    const other = await env.tenant()
    const otherApi = env.api(other.key)
    const list = await otherApi.get('/v1/events')
    t.same(list.body.data, [])
    const mine = await api.get('/v1/events?limit=1')
    const res = await otherApi.get(`/v1/events/${mine.body.data[0].id}`)
    t.equal(res.statusCode, 404)
    t.equal(res.body.error.code, 'resource_missing')
  })

  await t.test('customer personal data in event payloads is absent for roles that may not view it', async (t) => {
    const janeEvent = (await api.get('/v1/events?type=customer.created')).body.data.find((e: { data: { object: { id: string } } }) => e.data.object.id === jane.body.id)
    t.match(janeEvent.data.object, { email: 'jane@example.com', phone: '+15550100123', tax_id: 'TX-998877' }, 'admin sees PII')

    const accountant = await env.key(tenant.key, 'accountant')
    const asAccountant = await env.api(accountant.secret).get(`/v1/events/${janeEvent.id}`)
    t.notOk('email' in asAccountant.body.data.object, 'accountants do not see personal data')
    t.match(asAccountant.body.data.object, { balance: { current_balance: 0 } }, 'they see balances')

    const auditor = await env.key(tenant.key, 'auditor')
    const asAuditor = await env.api(auditor.secret).get(`/v1/events/${janeEvent.id}`)
    t.equal(asAuditor.statusCode, 200)
    t.match(asAuditor.body.data.object, { name: 'Jane' })
    for (const f of ['email', 'phone', 'tax_id', 'billing_address', 'shipping_address']) t.notOk(f in asAuditor.body.data.object, `${f} absent`)
    const auditorList = await env.api(auditor.secret).get('/v1/events?type=customer.created')
    t.notOk(auditorList.raw.includes('jane@example.com') || auditorList.raw.includes('TX-998877'), 'absent from the list too')

    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).get('/v1/events')).statusCode, 403, 'cashier cannot read events')
    t.equal((await env.api(null).get('/v1/events')).statusCode, 401)
  })

  await t.test('redeliver: validation, permissions, and delivery rows for subscribed endpoints', async (t) => {
    const events = (await api.get('/v1/events')).body.data
    const updatedEvent = events.find((e: { type: string }) => e.type === 'customer.updated')

    t.equal((await api.post('/v1/events/evt_00000000000000000000000000/redeliver')).statusCode, 404)
    const none = await api.post(`/v1/events/${updatedEvent.id}/redeliver`)
    t.equal(none.statusCode, 202, none.raw)
    t.same(none.body, { object: 'list', data: [], has_more: false }, 'no endpoint subscribed: nothing to send')

    const all = await api.post('/v1/webhook-endpoints', { url: 'https://hooks.example.com/all', events: ['*'] })
    const onlyCreated = await api.post('/v1/webhook-endpoints', { url: 'https://hooks.example.com/created', events: ['customer.created'] })
    t.equal(all.statusCode, 201, all.raw)

    const res = await api.post(`/v1/events/${updatedEvent.id}/redeliver`, {})
    t.equal(res.statusCode, 202, res.raw)
    t.equal(res.body.data.length, 1, 'only the endpoint subscribed to customer.updated')
    t.match(res.body.data[0], { object: 'webhook_delivery', endpoint: all.body.id, event: updatedEvent.id, event_type: 'customer.updated', status: 'pending' })

    const again = await api.post(`/v1/events/${updatedEvent.id}/redeliver`, { endpoint: all.body.id })
    t.equal(again.statusCode, 202, again.raw)
    t.equal(again.body.data[0].id, res.body.data[0].id, 'the same delivery (one per endpoint and event) starts a new cycle')

    const notSubscribed = await api.post(`/v1/events/${updatedEvent.id}/redeliver`, { endpoint: onlyCreated.body.id })
    t.equal(notSubscribed.statusCode, 422)
    t.equal(notSubscribed.body.error.param, 'endpoint')
    t.equal((await api.post(`/v1/events/${updatedEvent.id}/redeliver`, { endpoint: 'we_00000000000000000000000000' })).statusCode, 404)
    t.equal((await api.post(`/v1/events/${updatedEvent.id}/redeliver`, { endpoint: 'nope' })).statusCode, 400)

    const accountant = await env.key(tenant.key, 'accountant')
    t.equal((await env.api(accountant.secret).post(`/v1/events/${updatedEvent.id}/redeliver`)).statusCode, 403, 'reading events is not enough')

    const audit = await env.admin('audit_log').where({ action: 'event.redelivered', entity_id: updatedEvent.id })
    t.equal(audit.length, 2, 'each redelivery is audited')
  })
})

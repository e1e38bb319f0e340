import t from 'tap'
import { setupTestEnv, TestEnv } from './helpers/app'

async function customersNamed(env: TestEnv, tenantUuid: string, name: string): Promise<number> {
  return Number((await env.admin('customers').where({ tenant_id: tenantUuid, name }).count('* as n'))[0].n)
}

async function storedKeys(env: TestEnv, tenantUuid: string, key: string): Promise<number> {
  return Number((await env.admin('idempotency_keys').where({ tenant_id: tenantUuid, key }).count('* as n'))[0].n)
}

t.test('idempotency keys', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('a replay returns the first response and creates nothing more', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const body = { name: 'Replay Ltd', email: 'ap@replay.example', metadata: { b: '2', a: '1' } }
    const first = await api.post('/v1/customers', body, { 'idempotency-key': 'create-replay-1' })
    t.equal(first.statusCode, 201, first.raw)
    t.notOk(first.headers['idempotent-replayed'])
    const second = await api.post('/v1/customers', body, { 'idempotency-key': 'create-replay-1' })
    t.equal(second.statusCode, 201)
    t.equal(second.headers['idempotent-replayed'], 'true')
    t.same(second.body, first.body)
    t.equal(second.headers.etag, first.headers.etag)
    // Key order in the body does not make it a different request.
    const reordered = await api.post('/v1/customers', { metadata: { a: '1', b: '2' }, email: 'ap@replay.example', name: 'Replay Ltd' }, { 'idempotency-key': 'create-replay-1' })
    t.equal(reordered.statusCode, 201)
    t.equal(reordered.body.id, first.body.id)
    t.equal(await customersNamed(env, tenant.uuid, 'Replay Ltd'), 1)
    t.equal(Number((await env.admin('audit_log').where({ entity_id: first.body.id }).count('* as n'))[0].n), 1, 'one audit row')
    t.equal(Number((await env.admin('events').where({ type: 'customer.created', idempotency_key: 'create-replay-1' }).count('* as n'))[0].n), 1, 'one event, tagged with the key')
  })

  await t.test('the same key with a different body is refused with 422', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    t.equal((await api.post('/v1/customers', { name: 'Original' }, { 'idempotency-key': 'k-reuse' })).statusCode, 201)
    const reused = await api.post('/v1/customers', { name: 'Different' }, { 'idempotency-key': 'k-reuse' })
    t.equal(reused.statusCode, 422)
    t.equal(reused.body.error.code, 'idempotency_key_reused')
    t.equal(await customersNamed(env, tenant.uuid, 'Different'), 0)
    // Same key on another endpoint is also a different request.
    const c = (await api.get('/v1/customers')).body.data[0]
    await api.delete(`/v1/customers/${c.id}`, { reason: 'x' })
    const otherPath = await api.post(`/v1/customers/${c.id}/restore`, { reason: 'y' }, { 'idempotency-key': 'k-reuse' })
    t.equal(otherPath.statusCode, 422)
  })

  await t.test('a concurrent burst with one key has exactly one effect', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const body = { name: 'Burst Co', external_id: 'burst-1' }
    const responses = await Promise.all(Array.from({ length: 20 }, () => api.post('/v1/customers', body, { 'idempotency-key': 'burst-key' })))
    const statuses = responses.map((r) => r.statusCode)
    t.ok(
      statuses.every((s) => s === 201 || s === 409),
      `only 201 or 409: ${statuses.join(",")}`,
    )
    for (const r of responses.filter((r) => r.statusCode === 409)) t.equal(r.body.error.code, 'idempotency_key_in_use')
    const ids = new Set(responses.filter((r) => r.statusCode === 201).map((r) => r.body.id))
    t.equal(ids.size, 1, 'every 201 names the same customer')
    t.equal(await customersNamed(env, tenant.uuid, 'Burst Co'), 1, 'exactly one customer')
    const after = await api.post('/v1/customers', body, { 'idempotency-key': 'burst-key' })
    t.equal(after.statusCode, 201)
    t.equal(after.headers['idempotent-replayed'], 'true')
    t.ok(ids.has(after.body.id))
  })

  await t.test('keys are per tenant', async (t) => {
    const a = await env.tenant()
    const b = await env.tenant()
    const body = { name: 'Shared Key' }
    const ra = await env.api(a.key).post('/v1/customers', body, { 'idempotency-key': 'same-key' })
    const rb = await env.api(b.key).post('/v1/customers', body, { 'idempotency-key': 'same-key' })
    t.equal(ra.statusCode, 201)
    t.equal(rb.statusCode, 201)
    t.notOk(rb.headers['idempotent-replayed'])
    t.not(ra.body.id, rb.body.id)
    t.equal(await customersNamed(env, a.uuid, 'Shared Key'), 1)
    t.equal(await customersNamed(env, b.uuid, 'Shared Key'), 1)
  })

  await t.test('key format: at most 255 printable characters', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const tooLong = await api.post('/v1/customers', { name: 'Long Key' }, { 'idempotency-key': 'k'.repeat(256) })
    t.equal(tooLong.statusCode, 400)
    t.equal(tooLong.body.error.code, 'invalid_idempotency_key')
    t.equal(tooLong.body.error.param, 'Idempotency-Key')
    const spaced = await api.post('/v1/customers', { name: 'Long Key' }, { 'idempotency-key': 'has space' })
    t.equal(spaced.statusCode, 400)
    t.equal(await customersNamed(env, tenant.uuid, 'Long Key'), 0)
    const max = await api.post('/v1/customers', { name: 'Long Key' }, { 'idempotency-key': 'k'.repeat(255) })
    t.equal(max.statusCode, 201)
  })

  await t.test('a failed request stores nothing, so a retry is evaluated afresh', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)

    // Rejected by the schema before the handler runs.
    for (let i = 0; i < 2; i++) {
      const res = await api.post('/v1/customers', { name: 'Bad', credit_limit: 1.5 }, { 'idempotency-key': 'bad-schema' })
      t.equal(res.statusCode, 400)
      t.equal(res.body.error.code, 'validation_failed')
      t.notOk(res.headers['idempotent-replayed'])
    }
    // Rejected by the service inside the idempotent transaction.
    for (let i = 0; i < 2; i++) {
      const res = await api.post('/v1/customers', { name: 'Bad', currency: 'zzz' }, { 'idempotency-key': 'bad-currency' })
      t.equal(res.statusCode, 400)
      t.equal(res.body.error.code, 'invalid_currency')
      t.notOk(res.headers['idempotent-replayed'])
    }
    t.equal(await customersNamed(env, tenant.uuid, 'Bad'), 0)
    t.equal(await storedKeys(env, tenant.uuid, 'bad-schema'), 0)
    t.equal(await storedKeys(env, tenant.uuid, 'bad-currency'), 0)

    // A conflict is not cached either: once it is resolved, the same request with the same key succeeds.
    const holder = await api.post('/v1/customers', { name: 'Holder', external_id: 'ext-x' })
    const conflict = await api.post('/v1/customers', { name: 'Retry', external_id: 'ext-x' }, { 'idempotency-key': 'retry-conflict' })
    t.equal(conflict.statusCode, 409)
    t.equal(conflict.body.error.code, 'duplicate_external_id')
    t.equal(await storedKeys(env, tenant.uuid, 'retry-conflict'), 0)
    await api.delete(`/v1/customers/${holder.body.id}`, { reason: 'free the external id' })
    const retried = await api.post('/v1/customers', { name: 'Retry', external_id: 'ext-x' }, { 'idempotency-key': 'retry-conflict' })
    t.equal(retried.statusCode, 201)
    t.equal(await storedKeys(env, tenant.uuid, 'retry-conflict'), 1)
  })

  await t.test('restore with a key replays instead of failing as not deleted', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Lazarus' })
    await api.delete(`/v1/customers/${c.body.id}`, { reason: 'x' })
    const first = await api.post(`/v1/customers/${c.body.id}/restore`, { reason: 'back' }, { 'idempotency-key': 'restore-1' })
    t.equal(first.statusCode, 200)
    const again = await api.post(`/v1/customers/${c.body.id}/restore`, { reason: 'back' }, { 'idempotency-key': 'restore-1' })
    t.equal(again.statusCode, 200)
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.same(again.body, first.body)
    const fresh = await api.post(`/v1/customers/${c.body.id}/restore`, { reason: 'back' })
    t.equal(fresh.statusCode, 409, 'without the key it is a new request')
  })
})

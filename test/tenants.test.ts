import t from 'tap'
import { setupTestEnv, PLATFORM_TOKEN } from './helpers/app'

t.test('tenants and api keys', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('provisioning needs the platform token', async (t) => {
    const anon = await env.api(null).post('/v1/tenants', { name: 'x', base_currency: 'usd' })
    t.equal(anon.statusCode, 401)
    t.equal(anon.body.error.code, 'authentication_required')
    t.ok(anon.headers['request-id'])
    const bad = await env.api('not-the-token-at-all').post('/v1/tenants', { name: 'x', base_currency: 'usd' })
    t.equal(bad.statusCode, 401)
    t.equal(bad.body.error.code, 'invalid_api_key')
  })

  await t.test('create tenant returns an admin key once; keys are stored hashed', async (t) => {
    const res = await env.api(PLATFORM_TOKEN).post('/v1/tenants', { name: 'Shop', base_currency: 'EUR', timezone: 'Europe/Paris' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { object: 'tenant', name: 'Shop', base_currency: 'eur', timezone: 'Europe/Paris', sandbox: false })
    t.match(res.body.id, /^ten_[0-9a-f]{32}$/)
    t.match(res.body.api_key, /^sk_live_/)
    const rows = await env.admin('api_keys').select('secret_hash')
    t.notOk(rows.some((r: { secret_hash: string }) => r.secret_hash.includes(res.body.api_key)))
    const list = await env.api(res.body.api_key).get('/v1/api-keys')
    t.equal(list.statusCode, 200)
    t.equal(list.body.data.length, 1)
    t.equal(list.body.data[0].role, 'admin')
    t.notOk('secret' in list.body.data[0])
  })

  await t.test('bad tenant input is refused with 400', async (t) => {
    for (const body of [
      { name: 'x', base_currency: 'zzz' },
      { name: 'x', base_currency: 'usd', timezone: 'Mars/Olympus' },
      { name: '', base_currency: 'usd' },
      { name: 'x', base_currency: 'usd', extra: 1 },
      { name: 5, base_currency: 'usd' },
    ]) {
      const res = await env.api(PLATFORM_TOKEN).post('/v1/tenants', body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
      t.equal(res.body.error.type, 'invalid_request')
    }
  })

  await t.test('keys: create, use, revoke', async (t) => {
    const tenant = await env.tenant({ sandbox: true })
    const created = await env.api(tenant.key).post('/v1/api-keys', { name: 'till 1', role: 'cashier' })
    t.equal(created.statusCode, 201)
    t.match(created.body.secret, /^sk_test_/)
    const cashier = created.body.secret
    const forbidden = await env.api(cashier).get('/v1/api-keys')
    t.equal(forbidden.statusCode, 403)
    t.equal(forbidden.body.error.code, 'permission_denied')
    const cantMint = await env.api(cashier).post('/v1/api-keys', { name: 'x', role: 'admin' })
    t.equal(cantMint.statusCode, 403)

    const revoked = await env.api(tenant.key).delete(`/v1/api-keys/${created.body.id}`)
    t.equal(revoked.statusCode, 200)
    t.ok(revoked.body.revoked)
    const after = await env.api(cashier).get('/v1/api-keys')
    t.equal(after.statusCode, 401)
    t.equal(after.body.error.code, 'invalid_api_key')
    const again = await env.api(tenant.key).delete(`/v1/api-keys/${created.body.id}`)
    t.equal(again.statusCode, 409)

    const badRole = await env.api(tenant.key).post('/v1/api-keys', { name: 'x', role: 'root' })
    t.equal(badRole.statusCode, 400)
  })

  await t.test('sandbox test clock: moves forward, drives default dates', async (t) => {
    const sandbox = await env.tenant({ sandbox: true })
    const api = env.api(sandbox.key)
    const now = await api.get('/v1/test-clock')
    t.equal(now.statusCode, 200, now.raw)
    t.equal(now.body.sandbox, true)
    const moved = await api.post('/v1/test-clock/advance', { date: '2099-03-01' })
    t.equal(moved.statusCode, 200, moved.raw)
    t.equal(moved.body.date, '2099-03-01')
    const cus = await api.post('/v1/customers', { name: 'Clocked' })
    const inv = await api.post('/v1/invoices', { customer: cus.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: 100 }] })
    t.match(inv.body, { issue_date: '2099-03-01', due_date: '2099-03-31' }, 'documents default to the test clock')
    const back = await api.post('/v1/test-clock/advance', { date: '2099-02-01' })
    t.equal(back.statusCode, 422, 'a test clock never goes back')
    t.equal(back.body.error.code, 'invalid_state')
    const live = await env.tenant()
    t.equal((await env.api(live.key).post('/v1/test-clock/advance', { date: '2099-03-01' })).body.error?.code, 'invalid_state', 'live tenants have no test clock')
    const accountant = await env.key(sandbox.key, 'accountant')
    t.equal((await env.api(accountant.secret).post('/v1/test-clock/advance', { date: '2099-04-01' })).statusCode, 403)
    t.equal((await env.admin('audit_log').where({ action: 'test_clock.advanced' })).length, 1)
  })

  await t.test('another tenant cannot see or revoke keys', async (t) => {
    const a = await env.tenant()
    const b = await env.tenant()
    const keyA = await env.key(a.key, 'accountant')
    const res = await env.api(b.key).delete(`/v1/api-keys/${keyA.id}`)
    t.equal(res.statusCode, 404)
    t.equal(res.body.error.code, 'resource_missing')
    const tampered = a.key.slice(0, -2) + (a.key.endsWith('AA') ? 'BB' : 'AA')
    t.equal((await env.api(tampered).get('/v1/api-keys')).statusCode, 401)
  })

  await t.test('POST /v1/tenants honours Idempotency-Key (platform-scoped, Stripe semantics)', async (t) => {
    const platform = env.api(PLATFORM_TOKEN)
    const count = async () => Number((await env.admin('tenants').count({ n: '*' }).first())!.n)
    const before = await count()
    const body = { name: 'Idem Shop', base_currency: 'eur' }
    const first = await platform.post('/v1/tenants', body, { 'idempotency-key': 'tenant-create-1' })
    t.equal(first.statusCode, 201)
    t.notOk(first.headers['idempotent-replayed'])
    const again = await platform.post('/v1/tenants', { base_currency: 'eur', name: 'Idem Shop' }, { 'idempotency-key': 'tenant-create-1' })
    t.equal(again.statusCode, 201, 'the retry gets the first answer')
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.strictSame(again.body, first.body, 'same tenant, same admin key')
    t.equal((await env.api(again.body.api_key).get('/v1/api-keys')).statusCode, 200, 'the replayed key works')
    t.equal(await count(), before + 1, 'one tenant for the key')

    const other = await platform.post('/v1/tenants', { ...body, name: 'Other Shop' }, { 'idempotency-key': 'tenant-create-1' })
    t.equal(other.statusCode, 422)
    t.equal(other.body.error.code, 'idempotency_key_reused')
    t.equal(await count(), before + 1, 'nothing created by a reused key')

    // The secret is never stored in the clear, and platform keys are not any tenant's keys.
    const stored = await env.admin('platform_idempotency_keys').where({ key: 'tenant-create-1' }).first()
    t.ok(stored, 'stored in the platform table')
    t.notOk(JSON.stringify(stored).includes(first.body.api_key), 'the admin key secret is sealed')
    t.equal(Number((await env.admin('idempotency_keys').where({ key: 'tenant-create-1' }).count({ n: '*' }).first())!.n), 0)

    // A key in flight: two concurrent requests with one key create one tenant.
    const racing = await Promise.all([1, 2, 3].map(() => platform.post('/v1/tenants', { ...body, name: 'Race Shop' }, { 'idempotency-key': 'tenant-race' })))
    const codes = racing.map((r) => r.statusCode).sort()
    t.ok(codes.every((c) => c === 201 || c === 409), `201 or 409 only: ${codes}`)
    for (const r of racing.filter((r) => r.statusCode === 409)) t.equal(r.body.error.code, 'idempotency_key_in_use')
    t.equal(new Set(racing.filter((r) => r.statusCode === 201).map((r) => r.body.id)).size, 1, 'one tenant id among the answers')
    t.equal(await count(), before + 2)

    // Keys longer than 255 characters (or not printable) are refused like on tenant routes.
    const long = await platform.post('/v1/tenants', body, { 'idempotency-key': 'k'.repeat(256) })
    t.equal(long.statusCode, 400)
    t.equal(long.body.error.code, 'invalid_idempotency_key')
    t.equal((await platform.post('/v1/tenants', body, { 'idempotency-key': 'k'.repeat(255) })).statusCode, 201, '255 is fine')
    t.equal(await count(), before + 3)
  })

  await t.test('a stored platform response is unreadable without the platform token', async (t) => {
    const { seal, unseal } = await import('../tenants/platform-idempotency')
    const idem = { key: 'k', hash: 'h', method: 'POST', path: '/v1/tenants', ttlHours: 24, token: PLATFORM_TOKEN }
    const sealed = seal(idem, { api_key: 'sk_secret' })
    t.notMatch(sealed, /sk_secret/)
    t.strictSame(unseal(idem, sealed), { api_key: 'sk_secret' })
    t.equal(unseal({ ...idem, token: 'another-platform-token-0000' }, sealed), undefined, 'another token cannot open it')
    t.equal(unseal({ ...idem, hash: 'other' }, sealed), undefined, 'nor another request')
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'

t.test('tenant settings', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'eur', timezone: 'Europe/Paris' })
  const api = env.api(tenant.key)

  await t.test('defaults: no approval thresholds, increases need approval', async (t) => {
    const res = await api.get('/v1/settings')
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body, {
      object: 'settings',
      base_currency: 'eur',
      timezone: 'Europe/Paris',
      approvals: { refund_over: null, write_off_over: null, reversal_over: null, credit_limit_increase: true, repair: false },
      merchant: { name: null, address: null, tax_id: null, email: null, phone: null, payment_instructions: null },
      payment_methods: [
        { code: 'cash', name: 'Cash', account_role: 'cash' },
        { code: 'card', name: 'Card', account_role: 'bank' },
        { code: 'bank_transfer', name: 'Bank transfer', account_role: 'bank' },
        { code: 'check', name: 'Check', account_role: 'bank' },
        { code: 'other', name: 'Other', account_role: 'bank' },
      ],
      rate_limit: { requests_per_key: null },
    })
  })

  await t.test('PATCH merges approvals key by key, audits before/after and emits settings.updated', async (t) => {
    const res = await api.patch('/v1/settings', { approvals: { refund_over: 10000, credit_limit_increase: false } })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body.approvals, { refund_over: 10000, write_off_over: null, credit_limit_increase: false })
    const again = await api.patch('/v1/settings', { timezone: 'America/New_York', approvals: { write_off_over: 0 } })
    t.equal(again.statusCode, 200, again.raw)
    t.match(again.body, { timezone: 'America/New_York', approvals: { refund_over: 10000, write_off_over: 0, credit_limit_increase: false } })
    t.same((await api.get('/v1/settings')).body, again.body)
    const audit = await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'settings.updated' }).orderBy('seq')
    t.equal(audit.length, 2)
    t.match(audit[1], { before: { timezone: 'Europe/Paris', approvals: { write_off_over: null } }, after: { timezone: 'America/New_York', approvals: { write_off_over: 0 } } })
    t.equal((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'settings.updated' })).length, 2)
    const off = await api.patch('/v1/settings', { approvals: { refund_over: null } })
    t.equal(off.body.approvals.refund_over, null)
    // No change: nothing written.
    const n = (await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'settings.updated' })).length
    t.equal((await api.patch('/v1/settings', { approvals: { refund_over: null } })).statusCode, 200)
    t.equal((await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'settings.updated' })).length, n)
  })

  await t.test('bad input: 400 and nothing written', async (t) => {
    const before = (await api.get('/v1/settings')).body
    for (const body of [
      { approvals: { refund_over: '100' } },
      { approvals: { refund_over: 10.5 } },
      { approvals: { refund_over: -1 } },
      { approvals: { credit_limit_increase: 'yes' } },
      { approvals: { unknown: 1 } },
      { approvals: [] },
      { timezone: 'Mars/Olympus' },
      { timezone: 5 },
      { payment_methods: [] },
      { payment_methods: [{ code: 'cash', name: 'Cash' }] },
      { payment_methods: [{ code: 'cash', name: 'Cash', account_role: 'till' }] },
      { payment_methods: [{ code: 'Cash!', name: 'Cash', account_role: 'cash' }] },
      { payment_methods: [{ code: 'cash', name: '', account_role: 'cash' }] },
      { payment_methods: [{ code: 'cash', name: 'Cash', account_role: 'cash' }, { code: 'cash', name: 'Again', account_role: 'bank' }] },
      { payment_methods: { code: 'cash' } },
      { merchant: { name: 5 } },
      { merchant: { email: 'not an email' } },
      { merchant: { tax_id: 'x'.repeat(65) } },
      { merchant: { iban: 'DE00' } },
      { merchant: 'Shop' },
      { rate_limit: { requests_per_key: 0 } },
      { rate_limit: { requests_per_key: 2.5 } },
      { rate_limit: { requests_per_key: '100' } },
      { rate_limit: { per_ip: 5 } },
      { rate_limit: 100 },
      {},
    ]) {
      const res = await api.patch('/v1/settings', body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
      t.equal(res.body.error.code, 'validation_failed')
    }
    t.same((await api.get('/v1/settings')).body, before)
  })

  await t.test('rate_limit: the tenant lowers the budget of each of its keys, never raises the platform’s', async (t) => {
    // A tenant of its own: every key of it counts against the lowered budget, its admin key too.
    const shop = await env.tenant()
    const shopApi = env.api(shop.key)
    const other = await env.tenant()
    const set = await shopApi.patch('/v1/settings', { rate_limit: { requests_per_key: 3 } }) // the admin key's 1st request
    t.equal(set.statusCode, 200, set.raw)
    t.same(set.body.rate_limit, { requests_per_key: 3 })
    const ownKey = env.api((await env.key(shop.key, 'admin')).secret) // 2nd
    const answers = [] as number[]
    for (let i = 0; i < 4; i++) answers.push((await ownKey.get('/v1/customers')).statusCode)
    t.same(answers, [200, 200, 200, 429], 'the fourth request of the window is refused')
    const limited = await ownKey.get('/v1/customers')
    t.equal(limited.body.error.code, 'rate_limited')
    t.ok(Number(limited.headers['retry-after']) > 0, 'with Retry-After')
    t.equal(limited.headers['x-ratelimit-limit'], '3')
    const others = env.api(other.key)
    for (let i = 0; i < 5; i++) t.equal((await others.get('/v1/customers')).statusCode, 200, 'another tenant keeps the platform’s budget')
    t.equal((await others.get('/v1/customers')).headers['x-ratelimit-limit'], String(env.config.RATE_LIMIT_MAX))

    // Above the platform's limit: the platform's applies; null gives it back.
    const high = await shopApi.patch('/v1/settings', { rate_limit: { requests_per_key: env.config.RATE_LIMIT_MAX + 1000 } }) // 3rd
    t.equal(high.statusCode, 200, high.raw)
    t.equal((await ownKey.get('/v1/customers')).headers['x-ratelimit-limit'], String(env.config.RATE_LIMIT_MAX), 'the platform’s limit, at once')
    t.equal((await shopApi.patch('/v1/settings', { rate_limit: { requests_per_key: null } })).body.rate_limit.requests_per_key, null)
    const audit = await env.admin('audit_log').where({ tenant_id: shop.uuid, action: 'settings.updated' }).orderBy('seq', 'desc').first('after')
    t.same(audit.after.rate_limit, { requests_per_key: null }, 'audited')
  })

  await t.test('permissions: auditors read, only settings.manage writes', async (t) => {
    const auditor = env.api((await env.key(tenant.key, 'auditor')).secret)
    t.equal((await auditor.get('/v1/settings')).statusCode, 200)
    const res = await auditor.patch('/v1/settings', { approvals: { refund_over: 1 } })
    t.equal(res.statusCode, 403)
    t.equal(res.body.error.code, 'permission_denied')
    const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
    t.equal((await cashier.get('/v1/settings')).statusCode, 403)
  })
})

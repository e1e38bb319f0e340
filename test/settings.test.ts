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
      {},
    ]) {
      const res = await api.patch('/v1/settings', body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
      t.equal(res.body.error.code, 'validation_failed')
    }
    t.same((await api.get('/v1/settings')).body, before)
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

import path from 'node:path'
import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { pluginRegistry } from '../core/kernel/plugins/runtime'

t.test('plugins', async (t) => {
  const env = await setupTestEnv(t, { PLUGIN_PATH: path.join(__dirname, 'plugins') })
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const accountant = env.api((await env.key(tenant.key, 'accountant')).secret)
  const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)

  await t.test('discovery loads the valid plugins and refuses the bad ones whole', async (t) => {
    const registry = pluginRegistry()
    t.same([...registry.plugins.keys()].sort(), ['coa-partner', 'coa-standard', 'coa-throws', 'coa-unbalanced', 'coa-unknown-account', 'credit-policy-standard', 'credit-policy-strict', 'email-smtp', 'retention-standard', 'sms-http', 'webhook'])
    const refused = Object.fromEntries(registry.refused.map((r) => [path.basename(r.dir), r.reason]))
    t.same(Object.keys(refused).sort(), ['bad-api-version', 'bad-manifest'])
    t.match(refused['bad-manifest'], /invalid manifest/)
    t.match(refused['bad-api-version'], /unsupported apiVersion 99/)
  })

  await t.test('list with this tenant’s enablement; permission', async (t) => {
    const res = await accountant.get('/v1/plugins')
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body.data.map((p: any) => [p.name, p.enabled]), [
      ['coa-partner', false],
      ['coa-standard', true],
      ['coa-throws', false],
      ['coa-unbalanced', false],
      ['coa-unknown-account', false],
      ['credit-policy-standard', true],
      ['credit-policy-strict', false],
      ['email-smtp', false],
      ['retention-standard', false],
      ['sms-http', false],
      ['webhook', false],
    ])
    t.match(res.body.data[0], { object: 'plugin', version: '1.2.0', provides: ['chart-of-accounts'], config: null, config_schema: { type: 'object' } })
    t.equal((await cashier.get('/v1/plugins')).statusCode, 403)
  })

  await t.test('configure: invalid config, unknown plugin, permission', async (t) => {
    for (const config of [{ product_share_percent: 150 }, { product_share_percent: '60' }, { surprise: true }]) {
      const res = await api.put('/v1/plugins/coa-partner', { config })
      t.equal(res.statusCode, 422, JSON.stringify(config))
      t.equal(res.body.error.code, 'plugin_invalid')
    }
    t.equal((await api.put('/v1/plugins/coa-nope', { config: {} })).statusCode, 404)
    t.equal((await api.put('/v1/plugins/bad-api-version', {})).statusCode, 404, 'a refused plugin is not installed')
    t.equal((await api.put('/v1/plugins/Not_A_Name', {})).statusCode, 400)
    t.equal((await api.put('/v1/plugins/coa-partner', { enabled: 'yes' })).statusCode, 400)
    t.equal((await accountant.put('/v1/plugins/coa-partner', { config: {} })).statusCode, 403)
    const disable = await api.put('/v1/plugins/coa-standard', { enabled: false })
    t.equal(disable.statusCode, 422, 'a tenant always has one active chart')
    t.equal((await api.get('/v1/plugins')).body.data.find((p: any) => p.name === 'coa-standard').enabled, true)
  })

  await t.test('one active credit policy: the built-in one until another is enabled, which replaces it', async (t) => {
    const enabled = async () => (await api.get('/v1/plugins')).body.data.filter((p: any) => p.provides.includes('credit-policy') && p.enabled).map((p: any) => p.name)
    t.same(await enabled(), ['credit-policy-standard'])
    t.equal((await api.get('/v1/credit-policy')).body.source, 'plugin:credit-policy-standard')
    const refused = await api.put('/v1/plugins/credit-policy-standard', { enabled: false })
    t.equal(refused.statusCode, 422, 'the built-in policy cannot be switched off alone')
    t.equal(refused.body.error.code, 'plugin_invalid')
    t.equal((await api.put('/v1/plugins/credit-policy-strict', { config: {} })).statusCode, 200)
    t.same(await enabled(), ['credit-policy-strict'], 'the partner policy replaces the built-in one')
    t.match((await api.get('/v1/credit-policy')).body, { source: 'plugin:credit-policy-strict', grace_period_days: 0, rules: [{ name: 'suspend_any_overdue' }] })
    t.equal((await api.put('/v1/plugins/credit-policy-standard', { config: { grace_period_days: 3 } })).statusCode, 200)
    t.same(await enabled(), ['credit-policy-standard'], 'enabling the built-in one again disables the partner one')
    t.match((await api.get('/v1/credit-policy')).body, { source: 'plugin:credit-policy-standard', grace_period_days: 3 })
    t.equal((await api.put('/v1/plugins/credit-policy-standard', { enabled: false })).statusCode, 422)
  })

  await t.test('a partner chart: new invoices post to its accounts, revenue split 60/40', async (t) => {
    const other = await env.tenant({ name: 'Unaffected' })
    const otherCus = (await env.api(other.key).post('/v1/customers', { name: 'Zed' })).body.id

    const res = await api.put('/v1/plugins/coa-partner', { config: { product_share_percent: 60 } })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, { name: 'coa-partner', enabled: true, config: { product_share_percent: 60 } })
    const list = (await api.get('/v1/plugins')).body.data
    t.same(list.filter((p: any) => p.enabled).map((p: any) => p.name), ['coa-partner', 'credit-policy-standard'])
    t.equal((await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'plugin.configured', entity_id: 'coa-partner' })).length, 1)

    const cus = (await api.post('/v1/customers', { name: 'Ada' })).body.id
    const inv = await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'Kit', quantity: 1, unit_amount: 1001, tax_rate: '0.1', unit_cost: 300 }] })
    t.equal(inv.statusCode, 201, inv.raw)
    t.match(inv.body, { subtotal: 1001, tax: 100, total: 1101 })
    const lines = (await api.get(`/v1/journal-entries/${inv.body.journal_entry}`)).body.lines
    t.same(
      lines.map((l: any) => [l.account, l.role, l.debit, l.credit]),
      [
        ['11000', 'ar', 1101, 0],
        ['40000', 'revenue', 0, 600],
        ['40100', 'revenue', 0, 401],
        ['22000', 'tax', 0, 100],
        ['50000', 'cogs', 300, 0],
        ['13000', 'inventory', 0, 300],
      ],
    )
    const pay = await api.post('/v1/payments', { customer: cus, amount: 1101, method: 'card', allocations: [{ invoice: inv.body.id, amount: 1101 }] })
    t.equal(pay.statusCode, 201, pay.raw)
    const payLines = (await api.get(`/v1/journal-entries/${pay.body.journal_entry}`)).body.lines
    t.same(payLines.map((l: any) => [l.account, l.debit, l.credit]), [['10100', 1101, 0], ['11000', 0, 1101]])

    const accounts = (await api.get('/v1/accounts')).body.data
    const byCode = Object.fromEntries(accounts.map((a: any) => [a.code, a]))
    t.match(byCode['11000'], { name: 'Trade debtors', type: 'asset', plugin: 'coa-partner', active: true })
    t.match(byCode['40100'], { name: 'Service revenue', type: 'revenue', active: true })
    t.match(byCode['1100'], { plugin: 'coa-standard', active: false })
    const tb = (await api.get('/v1/trial-balance')).body
    t.equal(tb.balanced, true)

    const otherInv = await env.api(other.key).post('/v1/invoices', { customer: otherCus, lines: [{ description: 'x', quantity: 1, unit_amount: 10 }] })
    t.equal((await env.admin('journal_lines').where({ entry_id: otherInv.body.journal_entry, line_no: 1 }).first()).account_code, '1100', 'other tenants keep their chart')
  })

  for (const [name, message] of [
    ['coa-unbalanced', /does not balance/],
    ['coa-unknown-account', /unknown account '99999'/],
    ['coa-throws', /failed: mapping service unavailable/],
  ] as const) {
    await t.test(`${name}: posting is rejected and nothing is written`, async (t) => {
      const tn = await env.tenant({ name })
      const tapi = env.api(tn.key)
      const cus = (await tapi.post('/v1/customers', { name: 'Ada' })).body.id
      const enabled = await tapi.put(`/v1/plugins/${name}`, {})
      t.equal(enabled.statusCode, 200, enabled.raw)
      const state = async () => {
        const where = { tenant_id: tn.uuid }
        const n = async (table: string) => Number((await env.admin(table).where(where).count('* as n'))[0].n)
        return {
          journal_entries: await n('journal_entries'),
          journal_lines: await n('journal_lines'),
          invoices: await n('invoices'),
          invoice_lines: await n('invoice_lines'),
          customer_transactions: await n('customer_transactions'),
          events: await n('events'),
          balances: await env.admin('customer_balances').where(where).select('customer_id', 'pending_balance', 'advance_balance', 'version'),
        }
      }
      const before = await state()
      const res = await tapi.post('/v1/invoices', { customer: cus, lines: [{ description: 'x', quantity: 2, unit_amount: 500, tax_rate: '0.2' }] })
      t.equal(res.statusCode, 422, res.raw)
      t.equal(res.body.error.code, 'posting_rejected')
      t.match(res.body.error.message, message)
      t.same(await state(), before)
    })
  }
})

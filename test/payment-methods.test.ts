import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { counts, customer, invoice } from './helpers/ledger'
import { merchantOf } from '../core/reports/statement'

t.test('payment methods and merchant details in the tenant settings', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ name: 'Corner Shop' })
  const api = env.api(tenant.key)
  const cus = await customer(api)
  const cashAccount = async (paymentId: string) => {
    const pay = (await api.get(`/v1/payments/${paymentId}`)).body
    const rows = await env.admin('journal_lines').where({ entry_id: pay.journal_entry }).where('debit', '>', 0).select('account_code')
    return rows.map((r: any) => r.account_code)
  }

  await t.test('defaults keep today’s codes and postings: cash to Cash, the others to Bank', async (t) => {
    const cash = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })
    t.equal(cash.statusCode, 201, cash.raw)
    t.same(await cashAccount(cash.body.id), ['1000'])
    for (const method of ['card', 'bank_transfer', 'check', 'other']) {
      const res = await api.post('/v1/payments', { customer: cus, amount: 100, method })
      t.equal(res.statusCode, 201, res.raw)
      t.same(await cashAccount(res.body.id), ['1010'], method)
    }
  })

  await t.test('a tenant’s own methods: the account follows the account role', async (t) => {
    const res = await api.patch('/v1/settings', {
      payment_methods: [
        { code: 'cash', name: 'Cash', account_role: 'cash' },
        { code: 'card', name: 'Card (settled by the acquirer)', account_role: 'clearing' },
        { code: 'mobile_wallet', name: 'Mobile wallet', account_role: 'bank' },
      ],
    })
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body.payment_methods.map((m: any) => m.code), ['cash', 'card', 'mobile_wallet'])
    t.same((await api.get('/v1/settings')).body.payment_methods, res.body.payment_methods)

    const card = await api.post('/v1/payments', { customer: cus, amount: 250, method: 'card' })
    t.equal(card.statusCode, 201, card.raw)
    t.same(await cashAccount(card.body.id), ['1020'], 'clearing')
    const wallet = await api.post('/v1/payments', { customer: cus, amount: 250, method: 'mobile_wallet' })
    t.equal(wallet.statusCode, 201, wallet.raw)
    t.equal(wallet.body.method, 'mobile_wallet')
    t.same(await cashAccount(wallet.body.id), ['1010'], 'bank')
    t.ok((await api.get('/v1/accounts')).body.data.some((a: any) => a.code === '1020'), 'the clearing account is listed')

    // A sale paid by the new method; change only on a method whose role is cash.
    const sale = await api.post('/v1/sales', { customer: cus, lines: [{ description: 'Tea', quantity: 1, unit_amount: 300 }], payment: { method: 'mobile_wallet', amount: 300 } })
    t.equal(sale.statusCode, 201, sale.raw)
    const change = await api.post('/v1/sales', { customer: cus, lines: [{ description: 'Tea', quantity: 1, unit_amount: 300 }], payment: { method: 'mobile_wallet', amount: 500, change_given: 200 } })
    t.equal(change.statusCode, 422, change.raw)
    t.equal(change.body.error.code, 'change_not_allowed')

    // A payment of a method the tenant dropped voids back to the account it came from (by its code).
    const voided = await api.post(`/v1/payments/${card.body.id}/void`, { reason: 'test' })
    t.equal(voided.statusCode, 200, voided.raw)
  })

  await t.test('a reversal hits the accounts of the original, not what the method’s role maps to now', async (t) => {
    const linesOf = async (entry: string) =>
      (await env.admin('journal_lines').where({ entry_id: entry }).orderBy('line_no').select('account_code', 'role', 'debit', 'credit')).map((l: any) => `${l.role} ${l.account_code} ${l.debit}/${l.credit}`)
    const settings = (await api.get('/v1/settings')).body.payment_methods
    const set = (role: string) => api.patch('/v1/settings', { payment_methods: settings.map((m: any) => (m.code === 'card' ? { ...m, account_role: role } : m)) })
    t.equal((await set('clearing')).statusCode, 200)
    const pay = (await api.post('/v1/payments', { customer: cus, amount: 700, method: 'card' })).body
    t.same(await linesOf(pay.journal_entry), ['cash 1020 700/0', 'advances 2100 0/700'], 'posted to clearing')
    t.equal((await set('bank')).statusCode, 200, 'card now settles to the bank')

    const part = await api.post(`/v1/transactions/${(await api.get(`/v1/customers/${cus}/transactions?limit=100`)).body.data.find((x: any) => x.source === pay.id).id}/reverse`, { amount: 200, reason: 'part' })
    t.equal(part.statusCode, 200, part.raw)
    const voided = await api.post(`/v1/payments/${pay.id}/void`, { reason: 'all of it' })
    t.equal(voided.statusCode, 200, voided.raw)
    const reversals = await env.admin('journal_entries').where({ reverses_entry_id: pay.journal_entry }).orderBy('id').pluck('id')
    t.equal(reversals.length, 2)
    t.same(await linesOf(reversals[0]), ['advances 2100 200/0', 'cash 1020 0/200'], 'the partial reversal credits clearing')
    t.same(await linesOf(reversals[1]), ['advances 2100 500/0', 'cash 1020 0/500'], 'the void credits clearing')
    const clearing = await env.admin('journal_lines').whereIn('entry_id', [pay.journal_entry, ...reversals]).where({ account_code: '1020' }).select(env.admin.raw('sum(debit) - sum(credit) as net')).first()
    t.equal(Number(clearing.net), 0, 'nothing of it left on clearing')
  })

  await t.test('a method the tenant does not list: 400 payment_method_unknown, nothing written', async (t) => {
    const inv = await invoice(api, cus, 1000)
    const before = await counts(env)
    for (const [path, body, param] of [
      ['/v1/payments', { customer: cus, amount: 100, method: 'check' }, 'method'],
      ['/v1/payments', { customer: cus, amount: 100, method: 'bank_transfer', allocations: [{ invoice: inv.id, amount: 100 }] }, 'method'],
      ['/v1/sales', { customer: cus, lines: [{ description: 'Tea', quantity: 1, unit_amount: 300 }], payment: { method: 'check', amount: 300 } }, 'payment.method'],
      ['/v1/refunds', { customer: cus, amount: 1, method: 'other', reason: 'r' }, 'method'],
    ] as const) {
      const res = await api.post(path, body)
      t.equal(res.statusCode, 400, `${path} ${res.raw}`)
      t.match(res.body.error, { code: 'payment_method_unknown', type: 'invalid_request', param })
    }
    for (const method of ['', 'Cash', 'a'.repeat(33), 5, null]) {
      const res = await api.post('/v1/payments', { customer: cus, amount: 100, method })
      t.equal(res.statusCode, 400, JSON.stringify(method))
      t.equal(res.body.error.code, 'validation_failed')
    }
    t.same(await counts(env), before)
  })

  await t.test('a method another process has just added is found at once, not refused until this process’s cache expires', async (t) => {
    t.equal((await api.post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })).statusCode, 201, 'the settings are cached here now')
    const settings = (await api.get('/v1/settings')).body.payment_methods
    // As PATCH /v1/settings in another API process does: the row changes, this process's cache does not hear of it.
    await env.admin('tenants').where({ tenant_id: tenant.uuid }).update({ settings: env.admin.raw(`jsonb_set(settings, '{payment_methods}', ?::jsonb)`, [JSON.stringify([...settings, { code: 'gift_card', name: 'Gift card', account_role: 'clearing' }])]) })
    const res = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'gift_card' })
    t.equal(res.statusCode, 201, res.raw)
    t.same(await cashAccount(res.body.id), ['1020'], 'to the clearing account its role maps to')
    t.equal((await api.patch('/v1/settings', { payment_methods: settings })).statusCode, 200)
  })

  await t.test('merchant details: settable, validated, printed on statements', async (t) => {
    const res = await api.patch('/v1/settings', { merchant: { name: 'Corner Shop Ltd', address: '1 Market Street\nSpringfield', tax_id: 'GB123456789', email: 'billing@corner.example', phone: '+44 20 7946 0000', payment_instructions: 'IBAN GB00 BANK 0000 0000 0000 00' } })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body.merchant, { name: 'Corner Shop Ltd', tax_id: 'GB123456789', email: 'billing@corner.example' })
    const partial = await api.patch('/v1/settings', { merchant: { phone: null } })
    t.match(partial.body.merchant, { name: 'Corner Shop Ltd', phone: null, tax_id: 'GB123456789' })
    // What documents print (core/reports/statement.ts).
    t.same(await merchantOf(env.admin as any, { tenantId: tenant.uuid }), {
      name: 'Corner Shop Ltd', address: '1 Market Street\nSpringfield', tax_id: 'GB123456789', email: 'billing@corner.example', phone: null, payment_instructions: 'IBAN GB00 BANK 0000 0000 0000 00',
    })
    const pdf = await api.get(`/v1/customers/${cus}/statement?format=pdf`)
    t.equal(pdf.statusCode, 200)
  })
})

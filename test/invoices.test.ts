import t from 'tap'
import { setupTestEnv } from './helpers/app'

t.test('invoices', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cus = await api.post('/v1/customers', { name: 'Ada', email: 'ada@example.com', credit_limit: 100000 })
  t.equal(cus.statusCode, 201, cus.raw)

  await t.test('post an invoice with tax and cost', async (t) => {
    const res = await api.post('/v1/invoices', {
      customer: cus.body.id,
      issue_date: '2026-11-01',
      payment_terms_days: 30,
      lines: [
        { description: 'Widget', quantity: 3, unit_amount: 1999, tax_rate: '0.2', unit_cost: 800 },
        { description: 'Service', quantity: 1, unit_amount: 5000 },
      ],
    })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { object: 'invoice', subtotal: 10997, tax: 1199, total: 12196, outstanding: 12196, status: 'open', due_date: '2026-12-01', number: 'INV-000001' })
    const je = await env.admin('journal_lines').where({ entry_id: res.body.journal_entry }).orderBy('line_no')
    t.same(
      je.map((l: any) => [l.account_code, l.debit, l.credit]),
      [['1100', 12196, 0], ['4000', 0, 10997], ['2200', 0, 1199], ['5000', 2400, 0], ['1300', 0, 2400]],
    )
    const c = await api.get(`/v1/customers/${cus.body.id}`)
    t.match(c.body.balance, { pending_balance: 12196, advance_balance: 0, current_balance: 12196 })
  })

  await t.test('credit limit', async (t) => {
    const res = await api.post('/v1/invoices', { customer: cus.body.id, lines: [{ description: 'Big', quantity: 1, unit_amount: 90000 }] })
    t.equal(res.statusCode, 422)
    t.equal(res.body.error.code, 'credit_limit_exceeded')
    const cashier = await env.key(tenant.key, 'accountant')
    const denied = await env.api(cashier.secret).post('/v1/invoices', { customer: cus.body.id, lines: [{ description: 'Big', quantity: 1, unit_amount: 90000 }], credit_override: { reason: 'ok' } })
    t.equal(denied.statusCode, 403)
    const ok = await api.post('/v1/invoices', { customer: cus.body.id, lines: [{ description: 'Big', quantity: 1, unit_amount: 90000 }], credit_override: { reason: 'VIP' } })
    t.equal(ok.statusCode, 201, ok.raw)
    const audit = await env.admin('audit_log').where({ action: 'credit_limit.overridden' })
    t.equal(audit.length, 1)
    t.equal(audit[0].reason, 'VIP')
  })

  await t.test('temporary credit-limit increase, until its expiry date', async (t) => {
    const c = await api.post('/v1/customers', { name: 'Temp', credit_limit: 1000 })
    const big = { customer: c.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: 1500 }] }
    t.equal((await api.post('/v1/invoices', big)).body.error.code, 'credit_limit_exceeded')
    const half = await api.patch(`/v1/customers/${c.body.id}`, { temporary_credit_limit: 2000 })
    t.equal(half.statusCode, 400, 'the limit needs its expiry date')
    const set = await api.patch(`/v1/customers/${c.body.id}`, { temporary_credit_limit: 2000, temporary_credit_limit_expires_on: '2099-12-31' })
    t.equal(set.statusCode, 200, set.raw)
    t.match(set.body, { credit_limit: 1000, temporary_credit_limit: 2000, temporary_credit_limit_expires_on: '2099-12-31' })
    t.equal((await api.post('/v1/invoices', big)).statusCode, 201, 'the increase applies before it expires')
    // Once expired (yesterday), the base limit is back: exposure 1500 + 1 > 1000.
    await env.admin('customers').where({ id: c.body.id }).update({ temporary_credit_limit_expires_on: '2020-01-01' })
    const after = await api.post('/v1/invoices', { customer: c.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] })
    t.equal(after.statusCode, 422)
    t.equal(after.body.error.code, 'credit_limit_exceeded')
    t.equal(after.body.error.details.credit_limit, 1000)
  })

  await t.test('bad input writes nothing', async (t) => {
    const before = (await env.admin('journal_entries').count('* as n'))[0].n
    for (const body of [
      { customer: cus.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: 10.5 }] },
      { customer: cus.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: '100' }] },
      { customer: cus.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: -1 }] },
      { customer: cus.body.id, lines: [] },
      { customer: cus.body.id, currency: 'eur', lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] },
      { customer: 'cus_0000000000aaaaaaaaaaaaaaaa', lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] },
      { customer: cus.body.id, lines: [{ description: 'x', quantity: 1, unit_amount: 1, tax_rate: '-1' }] },
    ]) {
      const res = await api.post('/v1/invoices', body)
      t.ok(res.statusCode >= 400 && res.statusCode < 500, `${res.statusCode} ${res.raw}`)
    }
    t.equal((await env.admin('journal_entries').count('* as n'))[0].n, before)
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, invoice } from './helpers/ledger'

t.test('write-offs', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cus = await customer(api)
  const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 10000 }], { issue_date: '2026-11-02' })

  await t.test('writes off part of an invoice: Dr bad debt / Cr AR', async (t) => {
    const res = await api.post('/v1/write-offs', { invoice: inv.id, amount: 3000, reason: 'Customer insolvent', posting_date: '2026-11-20' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { object: 'write_off', customer: cus, invoice: inv.id, payment: null, amount: 3000, reason: 'Customer insolvent', posting_date: '2026-11-20' })
    t.match(res.body.id, /^wo_/)
    t.match(res.body.transaction, /^txn_/)
    t.same(await balanced(t, env, res.body.journal_entry), [['6100', 3000, 0], ['1100', 0, 3000]])
    t.same(await balance(api, cus), { pending_balance: 7000, advance_balance: 0, current_balance: 7000 })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 7000, status: 'partially_paid' })
    t.match(await env.admin('customer_transactions').where({ id: res.body.transaction }).first(), { type: 'write_off', amount: -3000, balance_before: 10000, balance_after: 7000, reference: inv.number })
    t.equal((await env.admin('events').where({ type: 'write_off.created' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'write_off.created', entity_id: res.body.id })).length, 1)
    t.match((await api.get(`/v1/write-offs/${res.body.id}`)).body, { id: res.body.id, amount: 3000, transaction: res.body.transaction })
    const list = await api.get(`/v1/write-offs?invoice=${inv.id}`)
    t.equal(list.body.data.length, 1)
  })

  await t.test('refusals write nothing', async (t) => {
    const before = await counts(env)
    const other = await env.tenant()
    const foreign = await invoice(env.api(other.key), await customer(env.api(other.key)), [{ description: 'x', quantity: 1, unit_amount: 500 }], { issue_date: '2026-11-02' })
    const beforeOwn = await counts(env)
    for (const [body, status, code] of [
      [{ invoice: inv.id, amount: 7001, reason: 'too much' }, 422, 'write_off_exceeds_outstanding'],
      [{ invoice: inv.id, amount: 100 }, 400, 'validation_failed'],
      [{ invoice: inv.id, amount: 100, reason: '' }, 400, 'validation_failed'],
      [{ invoice: inv.id, amount: 0, reason: 'zero' }, 400, 'validation_failed'],
      [{ invoice: inv.id, amount: 10.5, reason: 'float' }, 400, 'validation_failed'],
      [{ invoice: foreign.id, amount: 100, reason: 'other tenant' }, 404, 'resource_missing'],
      [{ invoice: 'inv_0000000000aaaaaaaaaaaaaaaa', amount: 100, reason: 'missing' }, 404, 'resource_missing'],
    ] as const) {
      const res = await api.post('/v1/write-offs', body)
      t.equal(res.statusCode, status, res.raw)
      t.equal(res.body.error.code, code)
    }
    t.same(await counts(env), beforeOwn)
    t.not(before.journal_entries, beforeOwn.journal_entries) // the other tenant's invoice was written
    t.equal((await api.get(`/v1/invoices/${inv.id}`)).body.outstanding, 7000)
  })

  await t.test('writing off the rest settles the invoice', async (t) => {
    const res = await api.post('/v1/write-offs', { invoice: inv.id, amount: 7000, reason: 'Uncollectable' })
    t.equal(res.statusCode, 201, res.raw)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 0, status: 'paid' })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    const again = await api.post('/v1/write-offs', { invoice: inv.id, amount: 1, reason: 'again' })
    t.equal(again.body.error.code, 'write_off_exceeds_outstanding')
  })

  await t.test('a void invoice takes no write-off', async (t) => {
    const v = await invoice(api, cus, [{ description: 'Void me', quantity: 1, unit_amount: 800 }], { issue_date: '2026-11-02' })
    t.equal((await api.post(`/v1/invoices/${v.id}/void`, { reason: 'Mistake' })).statusCode, 200)
    const res = await api.post('/v1/write-offs', { invoice: v.id, amount: 100, reason: 'x' })
    t.equal(res.statusCode, 422)
    t.equal(res.body.error.code, 'invalid_state')
  })

  await t.test('roles', async (t) => {
    const cashier = await env.key(tenant.key, 'cashier')
    const res = await env.api(cashier.secret).post('/v1/write-offs', { invoice: inv.id, amount: 1, reason: 'x' })
    t.equal(res.statusCode, 403)
  })

  await intact(t, env, tenant.uuid)
})

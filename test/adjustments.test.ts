import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, payment } from './helpers/ledger'

t.test('adjustments', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cus = await customer(api)

  await t.test('a positive adjustment is a debit note: an invoice of kind debit_note', async (t) => {
    const res = await api.post('/v1/adjustments', { customer: cus, amount: 2500, reason: 'Late fee', posting_date: '2026-11-10' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { object: 'adjustment', customer: cus, amount: 2500, currency: 'usd', reason: 'Late fee', posting_date: '2026-11-10', credit_note: null })
    t.match(res.body.id, /^adj_/)
    t.match(res.body.debit_note, /^inv_/)
    const dn = (await api.get(`/v1/invoices/${res.body.debit_note}`)).body
    t.match(dn, { kind: 'debit_note', number: 'DN-000001', total: 2500, tax: 0, outstanding: 2500, status: 'open', issue_date: '2026-11-10', journal_entry: res.body.journal_entry, lines: [{ description: 'Late fee', quantity: 1, unit_amount: 2500 }] })
    t.same(await balanced(t, env, res.body.journal_entry), [['1100', 2500, 0], ['4900', 0, 2500]])
    t.equal((await env.admin('journal_entries').where({ id: res.body.journal_entry }).first()).event, 'adjustment')
    t.match(await env.admin('customer_transactions').where({ id: res.body.transaction }).first(), { type: 'debit_note', amount: 2500, reference: 'DN-000001', reason: 'Late fee' })
    t.same(await balance(api, cus), { pending_balance: 2500, advance_balance: 0, current_balance: 2500 })
    t.equal((await env.admin('events').where({ type: 'adjustment.created' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)

    // It is settled like any invoice.
    await payment(api, cus, 1000, { allocations: [{ invoice: dn.id, amount: 1000 }] })
    t.match((await api.get(`/v1/invoices/${dn.id}`)).body, { outstanding: 1500, status: 'partially_paid' })
    t.same(await balance(api, cus), { pending_balance: 1500, advance_balance: 0, current_balance: 1500 })
  })

  await t.test('a negative adjustment is unapplied credit that can be refunded', async (t) => {
    const res = await api.post('/v1/adjustments', { customer: cus, amount: -1200, reason: 'Price correction' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { amount: -1200, debit_note: null })
    t.match(res.body.credit_note, /^cn_/)
    t.same(await balanced(t, env, res.body.journal_entry), [['4900', 1200, 0], ['2100', 0, 1200]])
    t.match(await env.admin('customer_transactions').where({ id: res.body.transaction }).first(), { type: 'adjustment', amount: -1200, source_type: 'credit_note', source_id: res.body.credit_note })
    t.match((await api.get(`/v1/credit-notes/${res.body.credit_note}`)).body, { invoice: null, amount: 1200, unapplied_amount: 1200, reason: 'Price correction', status: 'issued' })
    t.same(await balance(api, cus), { pending_balance: 1500, advance_balance: 1200, current_balance: 300 })

    const refund = await api.post('/v1/refunds', { customer: cus, amount: 200, source: res.body.credit_note, method: 'cash', reason: 'Paid out' })
    t.equal(refund.statusCode, 201, refund.raw)
    t.equal((await api.get(`/v1/credit-notes/${res.body.credit_note}`)).body.unapplied_amount, 1000)
    t.same(await balance(api, cus), { pending_balance: 1500, advance_balance: 1000, current_balance: 500 })

    t.match((await api.get(`/v1/adjustments/${res.body.id}`)).body, { id: res.body.id, transaction: res.body.transaction })
    t.equal((await api.get(`/v1/adjustments?customer=${cus}`)).body.data.length, 2)
  })

  await t.test('reversing adjustments', async (t) => {
    const credit = await api.post('/v1/adjustments', { customer: cus, amount: -300, reason: 'Oops' })
    const rev = await api.post(`/v1/transactions/${credit.body.transaction}/reverse`, { reason: 'Entered twice' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.same(await balanced(t, env, rev.body.journal_entry), [['2100', 300, 0], ['4900', 0, 300]])
    t.match((await api.get(`/v1/credit-notes/${credit.body.credit_note}`)).body, { status: 'voided', unapplied_amount: 0, void_reason: 'Entered twice' })

    const debit = await api.post('/v1/adjustments', { customer: cus, amount: 400, reason: 'Fee' })
    const voided = await api.post(`/v1/invoices/${debit.body.debit_note}/void`, { reason: 'Waived' })
    t.equal(voided.statusCode, 200, voided.raw)
    t.match(voided.body, { kind: 'debit_note', status: 'void', outstanding: 0 })
    t.same(await balance(api, cus), { pending_balance: 1500, advance_balance: 1000, current_balance: 500 })
  })

  await t.test('refusals write nothing', async (t) => {
    const cashier = await env.key(tenant.key, 'cashier')
    const before = await counts(env)
    for (const [body, status] of [
      [{ customer: cus, amount: 0, reason: 'zero' }, 400],
      [{ customer: cus, amount: 100 }, 400],
      [{ customer: cus, amount: 10.5, reason: 'float' }, 400],
      [{ customer: cus, amount: '100', reason: 'string' }, 400],
      [{ customer: 'cus_0000000000aaaaaaaaaaaaaaaa', amount: 100, reason: 'missing' }, 404],
    ] as const) {
      const res = await api.post('/v1/adjustments', body)
      t.equal(res.statusCode, status, res.raw)
    }
    t.equal((await env.api(cashier.secret).post('/v1/adjustments', { customer: cus, amount: 1, reason: 'x' })).statusCode, 403)
    t.same(await counts(env), before)
  })

  await intact(t, env, tenant.uuid)
})

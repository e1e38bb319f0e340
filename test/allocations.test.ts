import t from 'tap'
import { setupTestEnv, TestEnv } from './helpers/app'
import { counts, balance, lines, invoice, payment } from './helpers/ledger'

const unapplied = async (env: TestEnv, table: string, id: string) => Number((await env.admin(table).where({ id }).first()).unapplied_amount)

t.test('allocations', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const customer = async (body: Record<string, unknown> = {}) => (await api.post('/v1/customers', { name: 'Client', ...body })).body.id as string

  await t.test('apply unapplied payment credit later, then un-apply it', async (t) => {
    const cus = await customer()
    const pay = await payment(api, cus, 5000)
    const inv = await invoice(api, cus, 3000)
    const txnsBefore = (await counts(env)).customer_transactions

    const res = await api.post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 2000 })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { id: /^alc_/, object: 'allocation', source: pay.id, source_type: 'payment', invoice: inv.id, customer: cus, amount: 2000, status: 'applied', reversed_at: null })
    const entry = await env.admin('journal_entries').where({ id: res.body.journal_entry }).first()
    t.match(entry, { event: 'advance_applied', source_type: 'allocation', source_id: res.body.id })
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['2100', 2000, 0, 2000, 0], ['1100', 0, 2000, 0, 2000]])
    t.same(await balance(api, cus), { pending_balance: 1000, advance_balance: 3000, current_balance: -2000 })
    t.equal((await counts(env)).customer_transactions, txnsBefore, 'applying credit leaves the current balance and the sub-ledger alone')
    t.equal(await unapplied(env, 'payments', pay.id), 3000)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 1000, status: 'partially_paid' })
    t.match((await api.get(`/v1/payments/${pay.id}`)).body, { unapplied_amount: 3000, allocations: [{ id: res.body.id, amount: 2000 }] })
    t.same((await api.get(`/v1/allocations/${res.body.id}`)).body, res.body)

    const rev = await api.post(`/v1/allocations/${res.body.id}/reverse`, { reason: 'Applied to the wrong invoice' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.match(rev.body, { status: 'reversed', reverse_reason: 'Applied to the wrong invoice', reversal_entry: /^je_/ })
    t.ok(rev.body.reversed_at)
    t.same(await lines(env, rev.body.reversal_entry, { tx: true }), [['1100', 2000, 0, 2000, 0], ['2100', 0, 2000, 0, 2000]])
    t.same(await balance(api, cus), { pending_balance: 3000, advance_balance: 5000, current_balance: -2000 })
    t.equal(await unapplied(env, 'payments', pay.id), 5000)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 3000, status: 'open' })
    t.equal((await env.admin('events').where({ type: 'allocation.reversed' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'allocation.reversed', entity_id: res.body.id }).first()).reason, 'Applied to the wrong invoice')

    const before = await counts(env)
    const twice = await api.post(`/v1/allocations/${res.body.id}/reverse`, { reason: 'again' })
    t.equal(twice.statusCode, 422)
    t.equal(twice.body.error.code, 'already_reversed')
    t.same(await counts(env), before)
  })

  await t.test("un-applying a payment's own allocation frees it as advance", async (t) => {
    const cus = await customer()
    const inv = await invoice(api, cus, 1000)
    const pay = await payment(api, cus, 1000, { allocations: [{ invoice: inv.id, amount: 1000 }] })
    const rev = await api.post(`/v1/allocations/${pay.allocations[0].id}/reverse`, { reason: 'Bounced to another invoice' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 1000, status: 'open' })
    t.same(await balance(api, cus), { pending_balance: 1000, advance_balance: 1000, current_balance: 0 })
    const again = await api.post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 1000 })
    t.equal(again.statusCode, 201, again.raw)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 0, status: 'paid' })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
  })

  await t.test('rejections write nothing', async (t) => {
    const cus = await customer()
    const other = await customer()
    const pay = await payment(api, cus, 500)
    const inv = await invoice(api, cus, 300)
    const big = await invoice(api, cus, 5000)
    const voidedInv = await invoice(api, cus, 300)
    await env.admin('invoices').where({ id: voidedInv.id }).update({ status: 'void' })
    const voidedPay = await payment(api, cus, 500)
    await env.admin('payments').where({ id: voidedPay.id }).update({ status: 'voided' })
    const foreignInv = await invoice(api, other, 300)
    const otherTenant = await env.tenant()
    const otherApi = env.api(otherTenant.key)
    const foreignCus = (await otherApi.post('/v1/customers', { name: 'Far' })).body.id
    const foreignPay = await payment(otherApi, foreignCus, 500)

    const before = await counts(env)
    const cases: [string, unknown, number, string][] = [
      ['over the invoice outstanding', { source: pay.id, invoice: inv.id, amount: 301 }, 422, 'over_allocation'],
      ['over the unapplied credit', { source: pay.id, invoice: big.id, amount: 501 }, 422, 'over_allocation'],
      ['voided source', { source: voidedPay.id, invoice: inv.id, amount: 100 }, 422, 'invalid_state'],
      ['void invoice', { source: pay.id, invoice: voidedInv.id, amount: 100 }, 422, 'invalid_state'],
      ["another customer's invoice", { source: pay.id, invoice: foreignInv.id, amount: 100 }, 404, 'resource_missing'],
      ["another tenant's payment", { source: foreignPay.id, invoice: inv.id, amount: 100 }, 404, 'resource_missing'],
      ['missing credit note', { source: 'cn_0000000000aaaaaaaaaaaaaaaa', invoice: inv.id, amount: 100 }, 404, 'resource_missing'],
      ['not a credit source', { source: inv.id, invoice: inv.id, amount: 100 }, 400, 'validation_failed'],
      ['zero amount', { source: pay.id, invoice: inv.id, amount: 0 }, 400, 'validation_failed'],
      ['fractional amount', { source: pay.id, invoice: inv.id, amount: 1.5 }, 400, 'validation_failed'],
    ]
    for (const [name, body, status, code] of cases) {
      const res = await api.post('/v1/allocations', body)
      t.equal(res.statusCode, status, `${name}: ${res.raw}`)
      t.equal(res.body.error?.code, code, name)
    }
    const noReason = await api.post('/v1/allocations/alc_0000000000aaaaaaaaaaaaaaaa/reverse', {})
    t.equal(noReason.statusCode, 400)
    t.equal((await api.post('/v1/allocations/alc_0000000000aaaaaaaaaaaaaaaa/reverse', { reason: 'x' })).statusCode, 404)
    const foreignAlc = await otherApi.post('/v1/allocations', { source: foreignPay.id, invoice: (await invoice(otherApi, foreignCus, 100)).id, amount: 100 })
    const beforeForeign = await counts(env)
    t.equal((await api.post(`/v1/allocations/${foreignAlc.body.id}/reverse`, { reason: 'x' })).statusCode, 404)
    t.equal((await api.get(`/v1/allocations/${foreignAlc.body.id}`)).statusCode, 404)
    t.same(await counts(env), beforeForeign)
    t.equal(before.allocations + 1, beforeForeign.allocations)

    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 100 })).statusCode, 403)
    t.equal(await unapplied(env, 'payments', pay.id), 500)
  })

  await t.test('applying credit the advance balance does not have: insufficient_credit, not a refund error', async (t) => {
    const cus = await customer()
    const pay = await payment(api, cus, 1000)
    const inv = await invoice(api, cus, 800)
    // The payment still shows 1000 unapplied, but the customer's advance balance says only 300 is left
    // (cached balance drifted, as a reconciliation would report): the engine's own check refuses.
    await env.admin('customer_balances').where({ customer_id: cus }).update({ advance_balance: 300 })
    t.teardown(() => env.admin('customer_balances').where({ customer_id: cus }).update({ advance_balance: 1000 }))
    const before = await counts(env)
    const res = await api.post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 500 })
    t.equal(res.statusCode, 422, res.raw)
    t.match(res.body.error, { type: 'business_rule', code: 'insufficient_credit', details: { customer: cus, advance_balance: 300, needed: 500 } })
    t.same(await counts(env), before)
    t.equal(await unapplied(env, 'payments', pay.id), 1000)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 800, status: 'open' })
    await env.admin('customer_balances').where({ customer_id: cus }).update({ advance_balance: 1000 })
    const ok = await api.post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 500 })
    t.equal(ok.statusCode, 201, ok.raw)
    t.same(await balance(api, cus), { pending_balance: 300, advance_balance: 500, current_balance: -200 })
  })

  await t.test('FX: applying and un-applying foreign credit realizes and reverses FX', async (t) => {
    const cus = await customer({ currency: 'eur' })
    const inv = await invoice(api, cus, 10000, { exchange_rate: '1.10' })
    const pay = await payment(api, cus, 10000, { exchange_rate: '1.20' })
    const res = await api.post('/v1/allocations', { source: pay.id, invoice: inv.id, amount: 10000 })
    t.equal(res.statusCode, 201, res.raw)
    // Advances leave at the payment's rate, AR at the invoice's: a 1000 gain in base.
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['2100', 12000, 0, 10000, 0], ['1100', 0, 11000, 0, 10000], ['4950', 0, 1000, 0, 0]])
    const rev = await api.post(`/v1/allocations/${res.body.id}/reverse`, { reason: 'undo' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.same(await lines(env, rev.body.reversal_entry, { tx: true }), [['1100', 11000, 0, 10000, 0], ['2100', 0, 12000, 0, 10000], ['6950', 1000, 0, 0, 0]])
    const { rows } = await env.admin.raw(
      `select account_code, sum(debit) - sum(credit) as base from journal_lines where customer_id = ? group by account_code order by account_code`,
      [cus],
    )
    t.same(rows.map((r: any) => [r.account_code, Number(r.base)]), [['1100', 11000], ['2100', -12000]], 'AR back at the invoice base, advances at the payment base')
  })

  await t.test('a credit note’s own AR credit is recorded as its allocation, with no second entry', async (t) => {
    const cus = await customer()
    const inv = await invoice(api, cus, 600)
    const inv2 = await invoice(api, cus, 1000)
    // A credit note of 1000 on an invoice owing 600: its own entry credits AR for the applied part and
    // advances for the rest, and the allocation only records which invoice it settled.
    const cn = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, amount: 1000, reason: 'Damaged' })
    t.equal(cn.statusCode, 201, cn.raw)
    const cnId: string = cn.body.id
    t.match(cn.body, { amount: 1000, unapplied_amount: 400, allocations: [{ source: cnId, amount: 600 }] })
    t.same(await lines(env, cn.body.journal_entry, { tx: true }), [['4100', 1000, 0, 1000, 0], ['1100', 0, 600, 0, 600], ['2100', 0, 400, 0, 400]])
    t.equal(cn.body.allocations.length, 1)
    const alc = cn.body.allocations[0]
    t.match(alc, { source: cnId, source_type: 'credit_note', amount: 600, status: 'applied' })
    t.equal((await env.admin('journal_entries').where({ source_id: alc.id })).length, 0, 'no entry of its own')
    t.equal(await unapplied(env, 'credit_notes', cnId), 400)
    t.equal((await api.get(`/v1/invoices/${inv.id}`)).body.outstanding, 0)
    t.same(await balance(api, cus), { pending_balance: 1000, advance_balance: 400, current_balance: 600 })

    // The credit note's unapplied part applies later like a payment's.
    const later = await api.post('/v1/allocations', { source: cnId, invoice: inv2.id, amount: 400 })
    t.equal(later.statusCode, 201, later.raw)
    t.equal(await unapplied(env, 'credit_notes', cnId), 0)
    t.same(await balance(api, cus), { pending_balance: 600, advance_balance: 0, current_balance: 600 })
    // Un-applying the credit note's part on the first invoice turns it into unapplied credit.
    const rev = await api.post(`/v1/allocations/${alc.id}/reverse`, { reason: 'Wrong invoice' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.equal(await unapplied(env, 'credit_notes', cnId), 600)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 600, status: 'open' })
    t.same(await balance(api, cus), { pending_balance: 1200, advance_balance: 600, current_balance: 600 })
  })
})

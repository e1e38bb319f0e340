import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, lines as entryLines } from './helpers/ledger'

t.test('sales', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
  const lines = [
    { description: 'Widget', quantity: 2, unit_amount: 1500, tax_rate: '0.1', unit_cost: 600, product_ref: 'SKU-1' },
    { description: 'Cable', quantity: 1, unit_amount: 700, product_ref: 'SKU-2' },
  ]
  const events = (type: string, id: string, path = 'id') => env.admin('events').where({ type }).whereRaw(`data->'object'->>'${path}' = ?`, [id])

  await t.test('a paid sale: invoice and payment in one transaction, balance zero', async (t) => {
    const cus = await customer(api)
    const res = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 4000 }, issue_date: '2026-11-12' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body.id, /^sale_/)
    t.match(res.body, {
      object: 'sale', customer: cus, status: 'completed',
      invoice: { sale: res.body.id, total: 4000, outstanding: 0, status: 'paid', issue_date: '2026-11-12' },
      payment: { sale: res.body.id, amount: 4000, unapplied_amount: 0, method: 'cash', received_date: '2026-11-12', allocations: [{ invoice: res.body.invoice.id, amount: 4000 }] },
    })
    await balanced(t, env, res.body.invoice.journal_entry)
    await balanced(t, env, res.body.payment.journal_entry)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    t.equal((await events('sale.created', res.body.id)).length, 1)
    t.match((await api.get(`/v1/sales/${res.body.id}`)).body, { id: res.body.id, invoice: { id: res.body.invoice.id }, payment: { id: res.body.payment.id } })
    t.equal((await api.get(`/v1/sales?customer=${cus}`)).body.data.length, 1)

    const cancel = await cashier.post(`/v1/sales/${res.body.id}/cancel`, { reason: 'Customer changed their mind' })
    t.equal(cancel.statusCode, 200, cancel.raw)
    t.match(cancel.body, {
      status: 'cancelled', cancel_reason: 'Customer changed their mind',
      invoice: { status: 'void', outstanding: 0 }, payment: { status: 'voided', unapplied_amount: 0, allocations: [{ status: 'reversed' }] },
    })
    t.ok(cancel.body.cancelled_at)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    const restore = await events('inventory.restore_requested', res.body.id, 'sale')
    t.equal(restore.length, 1)
    t.match(restore[0].data.object, { sale: res.body.id, customer: cus, invoice: res.body.invoice.id, lines: [{ product_ref: 'SKU-1', quantity: 2 }, { product_ref: 'SKU-2', quantity: 1 }] })
    t.equal((await events('sale.cancelled', res.body.id)).length, 1)
    t.equal((await events('invoice.voided', res.body.invoice.id)).length, 1)
    t.equal((await events('payment.voided', res.body.payment.id)).length, 1)
    // Cash went out again, revenue and COGS are undone: every account nets to zero for this sale.
    const net = await env.admin('journal_lines as l')
      .join('journal_entries as e', function () {
        this.on('e.tenant_id', 'l.tenant_id').andOn('e.id', 'l.entry_id')
      })
      .whereIn('e.source_id', [res.body.invoice.id, res.body.payment.id, ...res.body.payment.allocations.map((a: any) => a.id)])
      .groupBy('l.account_code')
      .select('l.account_code', env.admin.raw('sum(l.debit - l.credit)::bigint as net'))
    t.ok(net.length >= 5)
    t.ok(net.every((r: any) => r.net === 0), JSON.stringify(net))

    const before = await counts(env)
    const again = await cashier.post(`/v1/sales/${res.body.id}/cancel`, { reason: 'again' })
    t.equal(again.statusCode, 422)
    t.equal(again.body.error.code, 'already_reversed')
    t.same(await counts(env), before)
  })

  await t.test('an unpaid sale; goods already returned are not restored twice', async (t) => {
    const cus = await customer(api)
    const res = await api.post('/v1/sales', { customer: cus, lines })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { payment: null, invoice: { total: 4000, outstanding: 4000, status: 'open' } })
    t.same(await balance(api, cus), { pending_balance: 4000, advance_balance: 0, current_balance: 4000 })
    const cn = await api.post('/v1/credit-notes', { customer: cus, invoice: res.body.invoice.id, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'Returned one' })
    t.equal(cn.statusCode, 201, cn.raw)
    t.equal(cn.body.amount, 1650)

    const cancel = await api.post(`/v1/sales/${res.body.id}/cancel`, { reason: 'Order cancelled' })
    t.equal(cancel.statusCode, 200, cancel.raw)
    // The credit note stays: un-applied from the void invoice, it is the customer's credit.
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 1650, current_balance: -1650 })
    const restore = await events('inventory.restore_requested', res.body.id, 'sale')
    t.match(restore[0].data.object.lines, [{ product_ref: 'SKU-1', quantity: 1 }, { product_ref: 'SKU-2', quantity: 1 }])
  })

  await t.test('a payment above the total: refused, unless the excess is given back as change or kept as credit', async (t) => {
    const cus = await customer(api)
    const before = await counts(env)
    const over = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000 } })
    t.equal(over.statusCode, 422, over.raw)
    t.match(over.body.error, { type: 'business_rule', code: 'overpayment', param: 'payment.amount' })
    t.equal(over.body.error.details.excess, 1000)
    // Change that does not cover the whole excess, change on a card, change above the excess.
    const short = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, change_given: 400 } })
    t.equal(short.statusCode, 422, short.raw)
    t.equal(short.body.error.code, 'overpayment')
    const card = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'card', amount: 5000, change_given: 1000 } })
    t.equal(card.statusCode, 422, card.raw)
    t.match(card.body.error, { code: 'change_not_allowed', param: 'payment.change_given' })
    const tooMuch = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, change_given: 1001, keep_as_credit: true } })
    t.equal(tooMuch.statusCode, 422, tooMuch.raw)
    t.match(tooMuch.body.error, { code: 'change_not_allowed', param: 'payment.change_given' })
    const exact = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 3999, change_given: 1 } })
    t.equal(exact.statusCode, 422, exact.raw)
    t.equal(exact.body.error.code, 'change_not_allowed')
    t.equal((await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, change_given: -1 } })).statusCode, 400)
    t.equal((await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, keep_as_credit: 'yes' } })).statusCode, 400)
    // Nothing written: no sale, invoice, payment, journal entry, event; the balance is untouched.
    t.same(await counts(env), before)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })

    // Change given: only the net is posted; the tender shows what was handed over.
    const change = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, change_given: 1000 } })
    t.equal(change.statusCode, 201, change.raw)
    t.match(change.body, {
      invoice: { total: 4000, outstanding: 0, status: 'paid' },
      payment: { amount: 4000, unapplied_amount: 0, allocations: [{ amount: 4000 }] },
      tender: { method: 'cash', amount: 5000, change_given: 1000, keep_as_credit: false },
    })
    t.same(await entryLines(env, change.body.payment.journal_entry).then((ls) => ls.reduce((s, [, d]) => s + (d as number), 0)), 4000, 'the entry posts 40.00, not 50.00')
    await balanced(t, env, change.body.payment.journal_entry)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    t.match((await api.get(`/v1/sales/${change.body.id}`)).body.tender, { amount: 5000, change_given: 1000, keep_as_credit: false })

    // Keep as credit: the excess becomes advance balance.
    const keep = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'card', amount: 5000, keep_as_credit: true } })
    t.equal(keep.statusCode, 201, keep.raw)
    t.match(keep.body, {
      invoice: { total: 4000, outstanding: 0, status: 'paid' },
      payment: { amount: 5000, unapplied_amount: 1000, allocations: [{ amount: 4000 }] },
      tender: { method: 'card', amount: 5000, change_given: 0, keep_as_credit: true },
    })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 1000, current_balance: -1000 })

    // Both: part of the excess back in cash, the rest kept.
    const both = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'cash', amount: 5000, change_given: 700, keep_as_credit: true } })
    t.equal(both.statusCode, 201, both.raw)
    t.match(both.body, { payment: { amount: 4300, unapplied_amount: 300 }, tender: { amount: 5000, change_given: 700, keep_as_credit: true } })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 1300, current_balance: -1300 })

    // A payment of exactly the total needs neither; the tender equals the payment.
    const paid = await cashier.post('/v1/sales', { customer: cus, lines, payment: { method: 'card', amount: 4000 } })
    t.equal(paid.statusCode, 201, paid.raw)
    t.match(paid.body.tender, { method: 'card', amount: 4000, change_given: 0, keep_as_credit: false })
  })

  await t.test('a failure anywhere writes nothing', async (t) => {
    const cus = await customer(api, { credit_limit: 3000 })
    const before = await counts(env)
    const over = await api.post('/v1/sales', { customer: cus, lines })
    t.equal(over.statusCode, 422)
    t.equal(over.body.error.code, 'credit_limit_exceeded')
    t.equal((await cashier.post('/v1/sales', { customer: cus, lines, credit_override: { reason: 'VIP' } })).statusCode, 403)
    t.equal((await api.post('/v1/sales', { customer: cus, lines: [] })).statusCode, 400)
    t.equal((await api.post('/v1/sales', { customer: cus, lines, payment: { method: 'barter', amount: 10 } })).statusCode, 400)
    t.same(await counts(env), before)

    // A failure after the invoice is written (the payment insert) rolls the whole sale back.
    await env.admin.raw('alter table payments add constraint test_no_4242 check (amount <> 4242)')
    t.teardown(() => env.admin.raw('alter table payments drop constraint if exists test_no_4242'))
    const late = await api.post('/v1/sales', { customer: cus, lines: [{ description: 'Thing', quantity: 1, unit_amount: 2000 }], payment: { method: 'card', amount: 4242, keep_as_credit: true } })
    t.equal(late.statusCode, 500, late.raw)
    t.same(await counts(env), before)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    await env.admin.raw('alter table payments drop constraint test_no_4242')

    t.equal((await api.get('/v1/sales/sale_0000000000aaaaaaaaaaaaaaaa')).statusCode, 404)
    t.equal((await api.post('/v1/sales/sale_0000000000aaaaaaaaaaaaaaaa/cancel', { reason: 'x' })).statusCode, 404)
  })

  await intact(t, env, tenant.uuid)
})

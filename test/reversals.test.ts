import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, invoice, payment, txnOf } from './helpers/ledger'

t.test('reversals', async (t) => {
  const env = await setupTestEnv(t, { DB_POOL_MAX: 20 })
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const reverse = (txn: string, body: Record<string, unknown>) => api.post(`/v1/transactions/${txn}/reverse`, body)
  const status = async (cus: string, txn: string) => (await api.get(`/v1/customers/${cus}/transactions?limit=100`)).body.data.find((x: any) => x.id === txn)

  await t.test('voiding an invoice un-applies its payment and mirrors its entry', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [
      { description: 'Widget', quantity: 2, unit_amount: 3000, tax_rate: '0.1', unit_cost: 1000 },
      { description: 'Service', quantity: 1, unit_amount: 3400 },
    ], { issue_date: '2026-11-02' })
    t.equal(inv.total, 10000)
    const pay = await payment(api, cus, 4000, { allocations: [{ invoice: inv.id, amount: 4000 }] })
    t.same(await balance(api, cus), { pending_balance: 6000, advance_balance: 0, current_balance: 6000 })

    const res = await api.post(`/v1/invoices/${inv.id}/void`, { reason: 'Billed the wrong customer' })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, { id: inv.id, status: 'void', outstanding: 0, void_reason: 'Billed the wrong customer', allocations: [{ amount: 4000, status: 'reversed' }] })
    t.ok(res.body.voided_at)
    t.match((await api.get(`/v1/payments/${pay.id}`)).body, { status: 'succeeded', unapplied_amount: 4000 })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 4000, current_balance: -4000 })

    const original = await txnOf(env, inv.id)
    const rev = await env.admin('customer_transactions').where({ reverses_id: original.id })
    t.match(rev, [{ type: 'reversal', amount: -10000, source_id: inv.id, reason: 'Billed the wrong customer' }])
    const entry = await env.admin('journal_entries').where({ id: rev[0].journal_entry_id }).first()
    t.match(entry, { event: 'reversal', source_type: 'invoice', source_id: inv.id, reverses_entry_id: inv.journal_entry })
    t.same(await balanced(t, env, entry.id), [['1100', 0, 10000], ['4000', 9400, 0], ['2200', 600, 0], ['5000', 0, 2000], ['1300', 2000, 0]])
    t.match(await status(cus, original.id), { status: 'reversed', reversed_amount: 10000 })
    t.equal((await env.admin('events').where({ type: 'invoice.voided' }).whereRaw(`data->'object'->>'id' = ?`, [inv.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'invoice.voided', entity_id: inv.id })).length, 1)

    const before = await counts(env)
    const again = await api.post(`/v1/invoices/${inv.id}/void`, { reason: 'again' })
    t.equal(again.statusCode, 422)
    t.equal(again.body.error.code, 'already_reversed')
    t.equal((await reverse(original.id, { amount: 1, reason: 'again' })).body.error.code, 'already_reversed')
    t.equal((await reverse(rev[0].id, { reason: 'undo the void' })).body.error.code, 'invalid_state')
    t.same(await counts(env), before)
  })

  await t.test('partial reversals of an invoice are pro rata; the last one takes exactly what remains', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Widget', quantity: 3, unit_amount: 1000, tax_rate: '0.2' }], { issue_date: '2026-11-02' })
    t.equal(inv.total, 3600)
    const txn = await txnOf(env, inv.id)

    const part = await reverse(txn.id, { amount: 1000, reason: 'Price dispute' })
    t.equal(part.statusCode, 200, part.raw)
    t.match(part.body, { object: 'customer_transaction', type: 'reversal', amount: -1000, reverses: txn.id, reversed_transaction: { id: txn.id, status: 'partially_reversed', reversed_amount: 1000 } })
    t.same(await balanced(t, env, part.body.journal_entry), [['1100', 0, 1000], ['4000', 833, 0], ['2200', 167, 0]])
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 2600, status: 'partially_paid' })
    t.same(await balance(api, cus), { pending_balance: 2600, advance_balance: 0, current_balance: 2600 })

    await payment(api, cus, 600, { allocations: [{ invoice: inv.id, amount: 600 }] })
    const before = await counts(env)
    const over = await reverse(txn.id, { amount: 2001, reason: 'more than outstanding' })
    t.equal(over.statusCode, 422)
    t.equal(over.body.error.code, 'reversal_exceeds_remaining')
    t.same(await counts(env), before)

    // The void un-applies the payment, then mirrors what is left: 3000 − 833 and 600 − 167.
    const full = await reverse(txn.id, { reason: 'Cancelled order' })
    t.equal(full.statusCode, 200, full.raw)
    t.same(await balanced(t, env, full.body.journal_entry), [['1100', 0, 2600], ['4000', 2167, 0], ['2200', 433, 0]])
    t.match(full.body.reversed_transaction, { status: 'reversed', reversed_amount: 3600 })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { status: 'void', outstanding: 0 })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 600, current_balance: -600 })
    t.equal((await reverse(txn.id, { amount: 1, reason: 'x' })).body.error.code, 'already_reversed')
  })

  await t.test('an invoice with a write-off is voided only after the write-off is reversed', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 5000 }], { issue_date: '2026-11-02' })
    const wo = (await api.post('/v1/write-offs', { invoice: inv.id, amount: 2000, reason: 'Doubtful' })).body
    const refused = await api.post(`/v1/invoices/${inv.id}/void`, { reason: 'x' })
    t.equal(refused.statusCode, 422)
    t.equal(refused.body.error.code, 'invalid_state')

    const part = await reverse(wo.transaction, { amount: 500, reason: 'Customer paid some' })
    t.equal(part.statusCode, 200, part.raw)
    t.same(await balanced(t, env, part.body.journal_entry), [['1100', 500, 0], ['6100', 0, 500]])
    t.equal(part.body.amount, 500)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 3500 })
    t.equal((await reverse(wo.transaction, { amount: 1501, reason: 'x' })).body.error.code, 'reversal_exceeds_remaining')
    t.equal((await reverse(wo.transaction, { reason: 'Recovered' })).statusCode, 200)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 5000, status: 'open' })
    t.same(await balance(api, cus), { pending_balance: 5000, advance_balance: 0, current_balance: 5000 })
    t.equal((await reverse(wo.transaction, { reason: 'again' })).body.error.code, 'already_reversed')

    t.equal((await api.post(`/v1/invoices/${inv.id}/void`, { reason: 'Now it can go' })).statusCode, 200)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
  })

  await t.test('payments: partial reversal of the unapplied part, void of the rest after a refund', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 1500 }], { issue_date: '2026-11-02' })
    const pay = await payment(api, cus, 5000, { allocations: [{ invoice: inv.id, amount: 1500 }], method: 'card' })
    const txn = await txnOf(env, pay.id)
    t.equal(txn.amount, -5000)

    t.equal((await reverse(txn.id, { amount: 3501, reason: 'more than unapplied' })).body.error.code, 'reversal_exceeds_remaining')
    const part = await reverse(txn.id, { amount: 500, reason: 'Keyed too much' })
    t.equal(part.statusCode, 200, part.raw)
    t.same(await balanced(t, env, part.body.journal_entry), [['2100', 500, 0], ['1010', 0, 500]])
    t.match((await api.get(`/v1/payments/${pay.id}`)).body, { status: 'succeeded', unapplied_amount: 3000 })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 3000, current_balance: -3000 })

    const refund = await api.post('/v1/refunds', { customer: cus, amount: 1000, source: pay.id, method: 'card', reason: 'Returned cash' })
    t.equal(refund.statusCode, 201, refund.raw)

    // Void: un-apply the 1500, then take out everything still unapplied (5000 − 500 − 1000).
    const res = await api.post(`/v1/payments/${pay.id}/void`, { reason: 'Card charge disputed' })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, { id: pay.id, status: 'voided', unapplied_amount: 0, void_reason: 'Card charge disputed', allocations: [{ status: 'reversed' }] })
    const voidTxn = await env.admin('customer_transactions').where({ reverses_id: txn.id }).orderBy('id', 'desc').first()
    t.equal(voidTxn.amount, 3500)
    t.same(await balanced(t, env, voidTxn.journal_entry_id), [['2100', 3500, 0], ['1010', 0, 3500]])
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 1500, status: 'open' })
    t.same(await balance(api, cus), { pending_balance: 1500, advance_balance: 0, current_balance: 1500 })
    t.equal((await env.admin('events').where({ type: 'payment.voided' }).whereRaw(`data->'object'->>'id' = ?`, [pay.id])).length, 1)
    t.equal((await api.post(`/v1/payments/${pay.id}/void`, { reason: 'again' })).body.error.code, 'already_reversed')
    t.equal((await reverse(txn.id, { amount: 1, reason: 'again' })).body.error.code, 'already_reversed')
  })

  await t.test('refunds and credit notes', async (t) => {
    const cus = await customer(api)
    const pay = await payment(api, cus, 2000)
    const refund = (await api.post('/v1/refunds', { customer: cus, amount: 800, source: pay.id, method: 'cash', reason: 'Asked back' })).body
    const rtxn = await txnOf(env, refund.id)
    const rr = await reverse(rtxn.id, { reason: 'Refund bounced' })
    t.equal(rr.statusCode, 200, rr.raw)
    t.equal(rr.body.amount, -800)
    t.same(await balanced(t, env, rr.body.journal_entry), [['2100', 0, 800], ['1000', 800, 0]])
    t.equal((await api.get(`/v1/payments/${pay.id}`)).body.unapplied_amount, 2000)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 2000, current_balance: -2000 })

    const inv = await invoice(api, cus, [{ description: 'Widget', quantity: 4, unit_amount: 500, tax_rate: '0.25', unit_cost: 200 }], { issue_date: '2026-11-02' })
    const cn = (await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 2 }], reason: 'Returned' })).body
    t.match(cn, { amount: 1250, unapplied_amount: 0 })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 1250, lines: [{ returned_quantity: 2 }] })
    const res = await reverse(cn.transaction, { reason: 'Goods never came back' })
    t.equal(res.statusCode, 200, res.raw)
    t.same(await balanced(t, env, res.body.journal_entry), [['2100', 1250, 0], ['4100', 0, 1000], ['2200', 0, 250], ['1300', 0, 400], ['5000', 400, 0]])
    t.match((await api.get(`/v1/credit-notes/${cn.id}`)).body, { status: 'voided', unapplied_amount: 0, allocations: [{ status: 'reversed' }] })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 2500, status: 'open', lines: [{ returned_quantity: 0 }] })
    t.same(await balance(api, cus), { pending_balance: 2500, advance_balance: 2000, current_balance: 500 })
  })

  await t.test('posting dates, unknown ids, permissions', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 700 }], { issue_date: '2026-11-02' })
    const txn = await txnOf(env, inv.id)
    const period = await api.post('/v1/periods', { start_date: '2026-10-01', end_date: '2026-10-31', type: 'monthly' })
    t.equal(period.statusCode, 201, period.raw)
    t.equal((await api.post(`/v1/periods/${period.body.id}/close`)).statusCode, 200)
    const cashier = await env.key(tenant.key, 'cashier')
    const other = await env.tenant()
    const before = await counts(env)
    const closed = await reverse(txn.id, { reason: 'back-dated', posting_date: '2026-10-15' })
    t.equal(closed.statusCode, 422, closed.raw)
    t.equal(closed.body.error.code, 'period_closed')
    t.equal((await reverse('txn_0000000000aaaaaaaaaaaaaaaa', { reason: 'x' })).statusCode, 404)
    t.equal((await reverse(txn.id, { reason: 'x', amount: 0 })).statusCode, 400)
    t.equal((await reverse(txn.id, {})).statusCode, 400)
    t.equal((await env.api(cashier.secret).post(`/v1/transactions/${txn.id}/reverse`, { reason: 'x' })).statusCode, 403)
    t.equal((await env.api(other.key).post(`/v1/transactions/${txn.id}/reverse`, { reason: 'x' })).statusCode, 404)
    t.equal((await env.api(other.key).post(`/v1/invoices/${inv.id}/void`, { reason: 'x' })).statusCode, 404)
    t.same(await counts(env), before)

    const dated = await reverse(txn.id, { reason: 'dated', posting_date: '2026-11-15' })
    t.equal(dated.statusCode, 200, dated.raw)
    t.equal(dated.body.posting_date, '2026-11-15')
  })

  await t.test('foreign currency: reversals keep every entry balanced in base', async (t) => {
    const cus = await customer(api, { currency: 'eur' })
    const inv = await invoice(api, cus, [{ description: 'Widget', quantity: 3, unit_amount: 333, tax_rate: '0.19' }], { issue_date: '2026-11-02', exchange_rate: '1.0837' })
    const txn = await txnOf(env, inv.id)
    const part = await reverse(txn.id, { amount: 101, reason: 'Discount' })
    t.equal(part.statusCode, 200, part.raw)
    await balanced(t, env, part.body.journal_entry)
    await payment(api, cus, 300, { allocations: [{ invoice: inv.id, amount: 300 }], exchange_rate: '1.1213' })
    const cn = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'Returned' })
    t.equal(cn.statusCode, 201, cn.raw)
    await balanced(t, env, cn.body.journal_entry)
    const full = await reverse(txn.id, { reason: 'Void' })
    t.equal(full.statusCode, 200, full.raw)
    await balanced(t, env, full.body.journal_entry)
    // Revenue and tax of this invoice net to zero in transaction currency.
    const net = await env.admin('journal_lines as l')
      .join('journal_entries as e', function () {
        this.on('e.tenant_id', 'l.tenant_id').andOn('e.id', 'l.entry_id')
      })
      .where({ 'e.source_id': inv.id })
      .whereIn('l.role', ['revenue', 'tax', 'ar'])
      .groupBy('l.role')
      .select('l.role', env.admin.raw('sum(l.tx_debit - l.tx_credit)::bigint as net'))
    t.ok(net.every((r: any) => r.net === 0), JSON.stringify(net))
    const b = await balance(api, cus)
    t.equal(b.pending_balance, 0)
    t.equal(b.advance_balance, 300 + cn.body.amount)
  })

  await t.test('ten concurrent voids of one payment: exactly one succeeds', async (t) => {
    const cus = await customer(api)
    const a = await invoice(api, cus, [{ description: 'A', quantity: 1, unit_amount: 3000 }], { issue_date: '2026-11-02' })
    const b = await invoice(api, cus, [{ description: 'B', quantity: 1, unit_amount: 2000 }], { issue_date: '2026-11-02' })
    const pay = await payment(api, cus, 6000, { allocations: [{ invoice: a.id, amount: 3000 }, { invoice: b.id, amount: 2000 }] })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 1000, current_balance: -1000 })
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => api.post(`/v1/payments/${pay.id}/void`, { reason: `attempt ${i}` })))
    const codes = results.map((r) => r.statusCode).sort()
    t.same(codes, [200, ...Array(9).fill(422)], results.map((r) => r.raw).join('\n'))
    t.ok(results.filter((r) => r.statusCode === 422).every((r) => r.body.error.code === 'already_reversed'))
    t.equal((await env.admin('customer_transactions').where({ reverses_id: (await txnOf(env, pay.id)).id })).length, 1)
    t.same(await balance(api, cus), { pending_balance: 5000, advance_balance: 0, current_balance: 5000 })
    t.match((await api.get(`/v1/invoices/${a.id}`)).body, { outstanding: 3000, status: 'open' })
    t.match((await api.get(`/v1/invoices/${b.id}`)).body, { outstanding: 2000, status: 'open' })
  })

  await intact(t, env, tenant.uuid)
})

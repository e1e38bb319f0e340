import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, invoice, payment } from './helpers/ledger'

t.test('credit notes', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)

  await t.test('a return of invoice lines: tax per line, cost back to inventory, applied to the invoice', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [
      { description: 'Widget', quantity: 3, unit_amount: 1999, tax_rate: '0.2', unit_cost: 800, product_ref: 'W-1' },
      { description: 'Service', quantity: 1, unit_amount: 5000 },
    ], { issue_date: '2026-11-02' })
    t.equal(inv.total, 12196)

    const res = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'Damaged', issue_date: '2026-11-05' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, {
      object: 'credit_note', number: 'CN-000001', customer: cus, invoice: inv.id, currency: 'usd', subtotal: 1999, tax: 400, amount: 2399,
      unapplied_amount: 0, status: 'issued', issue_date: '2026-11-05', reason: 'Damaged',
      lines: [{ line_no: 1, invoice_line: 1, quantity: 1, net_amount: 1999, tax_amount: 400, cost_amount: 800 }],
      allocations: [{ source: res.body.id, source_type: 'credit_note', invoice: inv.id, amount: 2399, status: 'applied', journal_entry: res.body.journal_entry }],
    })
    t.match(res.body.id, /^cn_/)
    t.same(await balanced(t, env, res.body.journal_entry), [['4100', 1999, 0], ['2200', 400, 0], ['1100', 0, 2399], ['1300', 800, 0], ['5000', 0, 800]])
    t.equal((await env.admin('journal_entries').where({ id: res.body.journal_entry }).first()).event, 'credit_note')
    t.same(await balance(api, cus), { pending_balance: 9797, advance_balance: 0, current_balance: 9797 })
    const after = (await api.get(`/v1/invoices/${inv.id}`)).body
    t.match(after, { outstanding: 9797, status: 'partially_paid' })
    t.equal(after.lines[0].returned_quantity, 1)
    t.match(await env.admin('customer_transactions').where({ id: res.body.transaction }).first(), { type: 'credit_note', amount: -2399, reference: 'CN-000001' })
    t.equal((await env.admin('events').where({ type: 'credit_note.created' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'credit_note.created', entity_id: res.body.id })).length, 1)

    // Returning what is left of the line takes its remaining tax: 1199 − 400 = 799, not round(3998 × 0.2) = 800.
    const rest = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 2 }], reason: 'Recall' })
    t.equal(rest.statusCode, 201, rest.raw)
    t.match(rest.body, { subtotal: 3998, tax: 799, amount: 4797, unapplied_amount: 0 })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 5000, lines: [{ returned_quantity: 3 }, { returned_quantity: 0 }] })

    const before = await counts(env)
    const over = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'Again' })
    t.equal(over.statusCode, 422)
    t.equal(over.body.error.code, 'return_quantity_exceeded')
    t.equal(over.body.error.param, 'lines.0.quantity')
    t.same(await counts(env), before)
    t.same(await balance(api, cus), { pending_balance: 5000, advance_balance: 0, current_balance: 5000 })
  })

  await t.test('the part above the outstanding becomes advance balance', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 1000 }], { issue_date: '2026-11-02' })
    await payment(api, cus, 800, { allocations: [{ invoice: inv.id, amount: 800 }] })
    const res = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.id, amount: 500, reason: 'Goodwill' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { subtotal: 500, tax: 0, amount: 500, unapplied_amount: 300, allocations: [{ amount: 200 }] })
    t.same(await balanced(t, env, res.body.journal_entry), [['4100', 500, 0], ['1100', 0, 200], ['2100', 0, 300]])
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 0, status: 'paid' })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 300, current_balance: -300 })
    t.match(await env.admin('customer_transactions').where({ id: res.body.transaction }).first(), { amount: -500, balance_before: 200, balance_after: -300 })
  })

  await t.test('without an invoice: all unapplied credit, allocatable later', async (t) => {
    const cus = await customer(api)
    const res = await api.post('/v1/credit-notes', { customer: cus, amount: 700, reason: 'Loyalty credit' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { invoice: null, amount: 700, unapplied_amount: 700, allocations: [] })
    t.same(await balanced(t, env, res.body.journal_entry), [['4100', 700, 0], ['2100', 0, 700]])
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 700, current_balance: -700 })

    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 1, unit_amount: 1000 }], { issue_date: '2026-11-02' })
    const alc = await api.post('/v1/allocations', { source: res.body.id, invoice: inv.id, amount: 600 })
    t.equal(alc.statusCode, 201, alc.raw)
    t.match((await api.get(`/v1/credit-notes/${res.body.id}`)).body, { unapplied_amount: 100, allocations: [{ amount: 600, status: 'applied' }] })
    t.same(await balance(api, cus), { pending_balance: 400, advance_balance: 100, current_balance: 300 })

    const list = await api.get(`/v1/credit-notes?customer=${cus}`)
    t.equal(list.statusCode, 200)
    t.match(list.body, { object: 'list', has_more: false, data: [{ id: res.body.id, transaction: res.body.transaction }] })
  })

  await t.test('refusals write nothing', async (t) => {
    const cus = await customer(api)
    const other = await customer(api)
    const inv = await invoice(api, cus, [{ description: 'Goods', quantity: 2, unit_amount: 1000 }], { issue_date: '2026-11-02' })
    const otherInv = await invoice(api, other, [{ description: 'Goods', quantity: 1, unit_amount: 1000 }], { issue_date: '2026-11-02' })
    const voided = await invoice(api, cus, [{ description: 'Void', quantity: 1, unit_amount: 1000 }], { issue_date: '2026-11-02' })
    t.equal((await api.post(`/v1/invoices/${voided.id}/void`, { reason: 'Wrong customer' })).statusCode, 200)
    const before = await counts(env)
    for (const [body, status, code] of [
      [{ customer: cus, invoice: inv.id, amount: 100, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'both' }, 400, 'validation_failed'],
      [{ customer: cus, invoice: inv.id, reason: 'neither' }, 400, 'validation_failed'],
      [{ customer: cus, lines: [{ invoice_line: 1, quantity: 1 }], reason: 'no invoice' }, 400, 'validation_failed'],
      [{ customer: cus, invoice: inv.id, lines: [{ invoice_line: 9, quantity: 1 }], reason: 'no such line' }, 400, 'validation_failed'],
      [{ customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 1 }, { invoice_line: 1, quantity: 1 }], reason: 'twice' }, 400, 'validation_failed'],
      [{ customer: cus, invoice: inv.id, lines: [{ invoice_line: 1, quantity: 3 }], reason: 'too many' }, 422, 'return_quantity_exceeded'],
      [{ customer: cus, invoice: inv.id, amount: 100 }, 400, 'validation_failed'],
      [{ customer: cus, invoice: inv.id, amount: -5, reason: 'negative' }, 400, 'validation_failed'],
      [{ customer: cus, invoice: voided.id, amount: 100, reason: 'void invoice' }, 422, 'invalid_state'],
      [{ customer: cus, invoice: otherInv.id, amount: 100, reason: 'other customer' }, 404, 'resource_missing'],
    ] as const) {
      const res = await api.post('/v1/credit-notes', body)
      t.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.raw}`)
      t.equal(res.body.error.code, code)
    }
    t.same(await counts(env), before)
    t.equal((await api.get('/v1/credit-notes/cn_0000000000aaaaaaaaaaaaaaaa')).statusCode, 404)
    const sales = await env.key(tenant.key, 'sales_rep')
    t.equal((await env.api(sales.secret).post('/v1/credit-notes', { customer: cus, amount: 1, reason: 'x' })).statusCode, 403)
  })

  await intact(t, env, tenant.uuid)
})

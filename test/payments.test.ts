import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { counts, balance, lines, invoice } from './helpers/ledger'

/** Rows a payment can write, counted as superuser across all tenants. */




t.test('payments', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const customer = async (body: Record<string, unknown> = {}) => {
    const res = await api.post('/v1/customers', { name: 'Payer', ...body })
    if (res.statusCode !== 201) throw new Error(res.raw)
    return res.body.id as string
  }

  await t.test('an unapplied payment becomes advance balance', async (t) => {
    const cus = await customer()
    const res = await api.post('/v1/payments', { customer: cus, amount: 5000, method: 'cash', reference: 'R-1', received_date: '2026-11-05' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body.id, /^pay_[0-9a-z]{26}$/)
    t.match(res.body, {
      object: 'payment', customer: cus, amount: 5000, currency: 'usd', exchange_rate: '1', received_date: '2026-11-05', method: 'cash',
      reference: 'R-1', unapplied_amount: 5000, status: 'succeeded', allocations: [], write_off: null,
    })
    const entry = await env.admin('journal_entries').where({ id: res.body.journal_entry }).first()
    t.match(entry, { event: 'payment_unapplied', source_type: 'payment', source_id: res.body.id, entry_date: '2026-11-05' })
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['1000', 5000, 0, 5000, 0], ['2100', 0, 5000, 0, 5000]])
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 5000, current_balance: -5000 })
    const txns = await env.admin('customer_transactions').where({ customer_id: cus })
    t.match(txns, [{ type: 'payment', amount: -5000, balance_before: 0, balance_after: -5000, reference: 'R-1', source_id: res.body.id }])
    t.equal((await env.admin('events').where({ type: 'payment.created' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'payment.created', entity_id: res.body.id })).length, 1)
  })

  await t.test('explicit allocations settle invoices; the rest is advance', async (t) => {
    const cus = await customer()
    const a = await invoice(api, cus, 3000)
    const b = await invoice(api, cus, 2000)
    const res = await api.post('/v1/payments', {
      customer: cus, amount: 6000, method: 'card', received_date: '2026-11-10',
      allocations: [{ invoice: b.id, amount: 1500 }, { invoice: a.id, amount: 3000 }],
    })
    t.equal(res.statusCode, 201, res.raw)
    t.equal(res.body.unapplied_amount, 1500)
    t.match(res.body.allocations, [
      { object: 'allocation', source: res.body.id, source_type: 'payment', invoice: b.id, amount: 1500, status: 'applied', effective_date: '2026-11-10', journal_entry: res.body.journal_entry },
      { invoice: a.id, amount: 3000 },
    ])
    t.equal((await env.admin('journal_entries').where({ id: res.body.journal_entry }).first()).event, 'payment_applied')
    // Card money lands in the bank account.
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [
      ['1010', 6000, 0, 6000, 0], ['1100', 0, 1500, 0, 1500], ['1100', 0, 3000, 0, 3000], ['2100', 0, 1500, 0, 1500],
    ])
    const rows = await env.admin('allocations').where({ source_id: res.body.id }).orderBy('amount')
    t.match(rows, [{ amount: 1500, base_amount: 1500 }, { amount: 3000, base_amount: 3000 }])
    t.match((await api.get(`/v1/invoices/${a.id}`)).body, { outstanding: 0, status: 'paid', allocations: [{ source: res.body.id, amount: 3000 }] })
    t.match((await api.get(`/v1/invoices/${b.id}`)).body, { outstanding: 500, status: 'partially_paid' })
    t.same(await balance(api, cus), { pending_balance: 500, advance_balance: 1500, current_balance: -1000 })
    const txn = await env.admin('customer_transactions').where({ source_id: res.body.id }).first()
    t.match(txn, { type: 'payment', amount: -6000, balance_before: 5000, balance_after: -1000 })
    t.equal((await env.admin('events').where({ type: 'allocation.created' }).whereRaw(`data->'object'->>'source' = ?`, [res.body.id])).length, 2)
    t.equal((await env.admin('events').where({ type: 'invoice.paid' }).whereRaw(`data->'object'->>'id' = ?`, [a.id])).length, 1)

    const got = await api.get(`/v1/payments/${res.body.id}`)
    t.equal(got.statusCode, 200)
    t.same(got.body, res.body)
  })

  await t.test('auto_apply pays the oldest due date first, then issue date, then id', async (t) => {
    const cus = await customer()
    const late = await invoice(api, cus, 1000, { issue_date: '2026-10-01', due_date: '2026-12-31' })
    const early = await invoice(api, cus, 1000, { issue_date: '2026-10-05', due_date: '2026-11-15' })
    const sameDueLaterIssue = await invoice(api, cus, 1000, { issue_date: '2026-10-03', due_date: '2026-11-20' })
    const sameDueEarlierIssue = await invoice(api, cus, 1000, { issue_date: '2026-10-02', due_date: '2026-11-20' })
    const first = await api.post('/v1/payments', { customer: cus, amount: 2500, method: 'bank_transfer', auto_apply: true })
    t.equal(first.statusCode, 201, first.raw)
    t.same(first.body.allocations.map((x: any) => [x.invoice, x.amount]), [[early.id, 1000], [sameDueEarlierIssue.id, 1000], [sameDueLaterIssue.id, 500]])
    t.equal(first.body.unapplied_amount, 0)

    const second = await api.post('/v1/payments', { customer: cus, amount: 2000, method: 'cash', auto_apply: true })
    t.same(second.body.allocations.map((x: any) => [x.invoice, x.amount]), [[sameDueLaterIssue.id, 500], [late.id, 1000]])
    t.equal(second.body.unapplied_amount, 500)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 500, current_balance: -500 })

    const nothingOpen = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'cash', auto_apply: true })
    t.match(nothingOpen.body, { allocations: [], unapplied_amount: 100 })
    t.equal((await env.admin('journal_entries').where({ id: nothingOpen.body.journal_entry }).first()).event, 'payment_unapplied')
  })

  await t.test('a short payment writes off the rest of its invoice', async (t) => {
    const cus = await customer()
    const inv = await invoice(api, cus, 10000)
    const res = await api.post('/v1/payments', {
      customer: cus, amount: 9500, method: 'cash', received_date: '2026-11-12',
      allocations: [{ invoice: inv.id, amount: 9500 }], write_off: { amount: 500, reason: 'Short paid, not worth chasing' },
    })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body.write_off, { id: /^wo_[0-9a-z]{26}$/, amount: 500, invoice: inv.id })
    const wo = await env.admin('write_offs').where({ id: res.body.write_off.id }).first()
    t.match(wo, { payment_id: res.body.id, invoice_id: inv.id, amount: 500, base_amount: 500, reason: 'Short paid, not worth chasing', write_off_date: '2026-11-12' })
    t.equal((await env.admin('journal_entries').where({ id: wo.journal_entry_id }).first()).event, 'write_off')
    t.same(await lines(env, wo.journal_entry_id, { tx: true }), [['6100', 500, 0, 500, 0], ['1100', 0, 500, 0, 500]])
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 0, status: 'paid' })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    const txns = await env.admin('customer_transactions').where({ customer_id: cus }).orderBy('id')
    t.match(txns.map((x: any) => [x.type, x.amount]), [['invoice', 10000], ['payment', -9500], ['write_off', -500]])
    t.equal((await api.get(`/v1/payments/${res.body.id}`)).body.write_off.id, res.body.write_off.id)
  })

  await t.test('rejections write nothing', async (t) => {
    const cus = await customer()
    const other = await customer()
    const inv = await invoice(api, cus, 1000)
    const inv2 = await invoice(api, cus, 1000)
    const voided = await invoice(api, cus, 1000)
    await env.admin('invoices').where({ id: voided.id }).update({ status: 'void' })
    const foreignInv = await invoice(api, other, 1000)
    const otherTenant = await env.tenant()
    const otherApi = env.api(otherTenant.key)
    const otherTenantCus = (await otherApi.post('/v1/customers', { name: 'Elsewhere' })).body.id
    const otherTenantInv = await invoice(otherApi, otherTenantCus, 1000)
    const pay = (extra: Record<string, unknown>) => ({ customer: cus, amount: 1000, method: 'cash', ...extra })

    const before = await counts(env)
    const cases: [string, unknown, number, string][] = [
      ['over the outstanding', pay({ amount: 2000, allocations: [{ invoice: inv.id, amount: 1001 }] }), 422, 'over_allocation'],
      ['over the payment', pay({ amount: 1500, allocations: [{ invoice: inv.id, amount: 1000 }, { invoice: inv2.id, amount: 501 }] }), 422, 'over_allocation'],
      ['same invoice twice', pay({ allocations: [{ invoice: inv.id, amount: 100 }, { invoice: inv.id, amount: 100 }] }), 400, 'validation_failed'],
      ['allocations and auto_apply', pay({ allocations: [{ invoice: inv.id, amount: 100 }], auto_apply: true }), 400, 'validation_failed'],
      ['void invoice', pay({ allocations: [{ invoice: voided.id, amount: 100 }] }), 422, 'invalid_state'],
      ["another customer's invoice", pay({ allocations: [{ invoice: foreignInv.id, amount: 100 }] }), 404, 'resource_missing'],
      ["another tenant's invoice", pay({ allocations: [{ invoice: otherTenantInv.id, amount: 100 }] }), 404, 'resource_missing'],
      ["another tenant's customer", pay({ customer: otherTenantCus }), 404, 'resource_missing'],
      ['currency mismatch', pay({ currency: 'eur' }), 422, 'currency_mismatch'],
      ['unknown currency', pay({ currency: 'xyz' }), 400, 'invalid_currency'],
      ['rate on a base-currency payment', pay({ exchange_rate: '1.2' }), 400, 'validation_failed'],
      ['fractional amount', pay({ amount: 10.5 }), 400, 'validation_failed'],
      ['zero amount', pay({ amount: 0 }), 400, 'validation_failed'],
      ['amount as string', pay({ amount: '1000' }), 400, 'validation_failed'],
      ['unknown method', pay({ method: 'barter' }), 400, 'payment_method_unknown'],
      ['zero allocation', pay({ allocations: [{ invoice: inv.id, amount: 0 }] }), 400, 'validation_failed'],
      ['write-off without allocation', pay({ write_off: { amount: 10, reason: 'x' } }), 400, 'validation_failed'],
      ['write-off with auto_apply', pay({ auto_apply: true, write_off: { amount: 10, reason: 'x' } }), 400, 'validation_failed'],
      ['write-off with two allocations', pay({ allocations: [{ invoice: inv.id, amount: 100 }, { invoice: inv2.id, amount: 100 }], write_off: { amount: 10, reason: 'x' } }), 400, 'validation_failed'],
      ['write-off without reason', pay({ allocations: [{ invoice: inv.id, amount: 900 }], write_off: { amount: 100 } }), 400, 'validation_failed'],
      ['write-off over what is left', pay({ amount: 900, allocations: [{ invoice: inv.id, amount: 900 }], write_off: { amount: 101, reason: 'x' } }), 422, 'write_off_exceeds_outstanding'],
    ]
    for (const [name, body, status, code] of cases) {
      const res = await api.post('/v1/payments', body)
      t.equal(res.statusCode, status, `${name}: ${res.raw}`)
      t.equal(res.body.error?.code, code, name)
    }
    t.same(await counts(env), before)
    t.same(await balance(api, cus), { pending_balance: 3000, advance_balance: 0, current_balance: 3000 })
    t.equal((await api.get(`/v1/invoices/${inv.id}`)).body.outstanding, 1000)
  })

  await t.test('realized FX: invoice at 1.10, payment at 1.20', async (t) => {
    const cus = await customer({ currency: 'eur' })
    const inv = await invoice(api, cus, 10000, { exchange_rate: '1.10' })
    t.equal(inv.total_base, 11000)
    const noRate = await api.post('/v1/payments', { customer: cus, amount: 10000, method: 'cash' })
    t.equal(noRate.statusCode, 422)
    t.equal(noRate.body.error.code, 'exchange_rate_required')

    const res = await api.post('/v1/payments', { customer: cus, amount: 10000, currency: 'EUR', method: 'cash', exchange_rate: '1.20', allocations: [{ invoice: inv.id, amount: 10000 }] })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { currency: 'eur', exchange_rate: '1.2' })
    // Cash at the payment's rate, AR at the invoice's, the difference is an FX gain (no transaction-currency amount).
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['1000', 12000, 0, 10000, 0], ['1100', 0, 11000, 0, 10000], ['4950', 0, 1000, 0, 0]])
    t.match(await env.admin('allocations').where({ source_id: res.body.id }).first(), { amount: 10000, base_amount: 11000 })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
  })

  await t.test('FX over partial payments: the clearing one takes the rest of the invoice base', async (t) => {
    const cus = await customer({ currency: 'eur' })
    const inv = await invoice(api, cus, 999, { exchange_rate: '1.10' })
    t.equal(inv.total_base, 1099) // round_half_up(1098.9)
    const p1 = await api.post('/v1/payments', { customer: cus, amount: 500, method: 'cash', exchange_rate: '1.20', allocations: [{ invoice: inv.id, amount: 500 }] })
    t.same(await lines(env, p1.body.journal_entry, { tx: true }), [['1000', 600, 0, 500, 0], ['1100', 0, 550, 0, 500], ['4950', 0, 50, 0, 0]])
    const p2 = await api.post('/v1/payments', { customer: cus, amount: 600, method: 'cash', exchange_rate: '1', allocations: [{ invoice: inv.id, amount: 499 }] })
    t.equal(p2.statusCode, 201, p2.raw)
    // 1099 − 550 = 549 clears AR in base; cash 600, advances 101 at rate 1; 549 − 499 = 50 is a loss.
    t.same(await lines(env, p2.body.journal_entry, { tx: true }), [['1000', 600, 0, 600, 0], ['1100', 0, 549, 0, 499], ['2100', 0, 101, 0, 101], ['6950', 50, 0, 0, 0]])
    const ar = await env.admin('journal_lines').where({ customer_id: cus, account_code: '1100' }).select(env.admin.raw('sum(debit) - sum(credit) as base'))
    t.equal(Number(ar[0].base), 0, 'the paid invoice leaves no base in AR')
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 101, current_balance: -101 })
  })

  await t.test('FX: the clearing base follows write-offs, their reversals and partial invoice reversals', async (t) => {
    const cus = await customer({ currency: 'eur' })
    const inv = await invoice(api, cus, 1000, { exchange_rate: '1.10' }) // base 1100
    const wo = await api.post('/v1/write-offs', { invoice: inv.id, amount: 300, reason: 'Disputed' })
    t.equal(wo.statusCode, 201, wo.raw)
    t.equal((await env.admin('write_offs').where({ id: wo.body.id }).first()).base_amount, 330)
    const back = await api.post(`/v1/transactions/${wo.body.transaction}/reverse`, { reason: 'Customer agreed to pay' })
    t.equal(back.statusCode, 200, back.raw)
    const invTxn = (await env.admin('customer_transactions').where({ source_id: inv.id, type: 'invoice' }).first()).id
    const cut = await api.post(`/v1/transactions/${invTxn}/reverse`, { amount: 100, reason: 'Price correction' })
    t.equal(cut.statusCode, 200, cut.raw)
    t.equal((await api.get(`/v1/invoices/${inv.id}`)).body.outstanding, 900)
    // AR carries 1100 − 330 + 330 − 110 = 990 for the 900 left; paid at 1.20 (1080): a 90 gain.
    const res = await api.post('/v1/payments', { customer: cus, amount: 900, method: 'cash', exchange_rate: '1.20', allocations: [{ invoice: inv.id, amount: 900 }] })
    t.equal(res.statusCode, 201, res.raw)
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['1000', 1080, 0, 900, 0], ['1100', 0, 990, 0, 900], ['4950', 0, 90, 0, 0]])
    const ar = await env.admin('journal_lines').where({ customer_id: cus, account_code: '1100' }).select(env.admin.raw('sum(debit) - sum(credit) as base'))
    t.equal(Number(ar[0].base), 0, 'no base left in AR')
  })

  await t.test('a payment void (core/reversals) un-applies its allocations through unapplyAllocation', async (t) => {
    const cus = await customer()
    const inv = await invoice(api, cus, 1000)
    const pay = await api.post('/v1/payments', { customer: cus, amount: 1500, method: 'cash', allocations: [{ invoice: inv.id, amount: 1000 }] })
    const res = await api.post(`/v1/payments/${pay.body.id}/void`, { reason: 'Cheque bounced' })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, { status: 'voided', unapplied_amount: 0, allocations: [{ status: 'reversed', reverse_reason: 'Cheque bounced' }] })
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 1000, status: 'open' })
    t.same(await balance(api, cus), { pending_balance: 1000, advance_balance: 0, current_balance: 1000 })
  })

  await t.test('list, get, permissions, tenancy, idempotency', async (t) => {
    const cus = await customer()
    const other = await customer()
    const p = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'check' })
    await api.post('/v1/payments', { customer: other, amount: 200, method: 'check' })
    const list = await api.get(`/v1/payments?customer=${cus}`)
    t.equal(list.statusCode, 200)
    t.match(list.body, { object: 'list', has_more: false })
    t.same(list.body.data.map((x: any) => x.id), [p.body.id])
    t.equal((await api.get('/v1/payments?limit=1')).body.has_more, true)

    const otherTenant = await env.tenant()
    t.equal((await env.api(otherTenant.key).get(`/v1/payments/${p.body.id}`)).statusCode, 404)
    t.equal((await api.get('/v1/payments/pay_0000000000aaaaaaaaaaaaaaaa')).statusCode, 404)

    const auditor = await env.key(tenant.key, 'auditor')
    t.equal((await env.api(auditor.secret).post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })).statusCode, 403)
    t.equal((await env.api(auditor.secret).get(`/v1/payments/${p.body.id}`)).statusCode, 200)
    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })).statusCode, 201)
    t.equal((await env.api(null).post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })).statusCode, 401)

    const body = { customer: cus, amount: 700, method: 'cash' }
    const first = await api.post('/v1/payments', body, { 'idempotency-key': 'pay-once' })
    const again = await api.post('/v1/payments', body, { 'idempotency-key': 'pay-once' })
    t.equal(again.statusCode, 201)
    t.equal(again.headers['idempotent-replayed'], 'true')
    t.equal(again.body.id, first.body.id)
    t.equal((await env.admin('payments').where({ customer_id: cus, amount: 700 })).length, 1)
  })

  await t.test('cached balances agree with the documents', async (t) => {
    const { rows } = await env.admin.raw(
      `select b.customer_id, b.pending_balance, b.advance_balance,
              (select coalesce(sum(outstanding), 0) from invoices i where i.customer_id = b.customer_id) as open,
              (select coalesce(sum(unapplied_amount), 0) from payments p where p.customer_id = b.customer_id) as unapplied,
              (select coalesce(sum(tx_debit - tx_credit), 0) from journal_lines l where l.customer_id = b.customer_id and l.account_code = '1100') as ar,
              (select coalesce(sum(tx_credit - tx_debit), 0) from journal_lines l where l.customer_id = b.customer_id and l.account_code = '2100') as adv
         from customer_balances b where b.tenant_id = ?`,
      [tenant.uuid],
    )
    for (const r of rows) {
      t.equal(Number(r.pending_balance), Number(r.open), `pending = open outstanding (${r.customer_id})`)
      t.equal(Number(r.pending_balance), Number(r.ar), `pending = AR sub-ledger (${r.customer_id})`)
      t.equal(Number(r.advance_balance), Number(r.unapplied), `advance = unapplied payments (${r.customer_id})`)
      t.equal(Number(r.advance_balance), Number(r.adv), `advance = advances sub-ledger (${r.customer_id})`)
    }
  })
})

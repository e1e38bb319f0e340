import t from 'tap'
import { setupTestEnv } from './helpers/app'

t.test('ledger reads', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ sandbox: true })
  await env.admin('tenants').where({ tenant_id: tenant.uuid }).update({ test_clock_date: '2026-06-30' })
  const api = env.api(tenant.key)
  const auditor = env.api((await env.key(tenant.key, 'auditor')).secret)
  const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
  const other = await env.tenant({ name: 'Other' })
  const otherApi = env.api(other.key)

  const cus = (await api.post('/v1/customers', { name: 'Ada' })).body.id
  const post = async (issue_date: string, unit_amount: number) => {
    const res = await api.post('/v1/invoices', { customer: cus, issue_date, lines: [{ description: 'x', quantity: 1, unit_amount, tax_rate: '0.1' }] })
    t.equal(res.statusCode, 201, res.raw)
    return res.body
  }
  const inv1 = await post('2026-03-01', 10000) // total 11000
  const inv2 = await post('2026-03-15', 5000) // total 5500

  await t.test('sub-ledger: rows, running balances, reversal status, pagination', async (t) => {
    const pay = await api.post('/v1/payments', { customer: cus, amount: 4000, method: 'cash', received_date: '2026-03-20', allocations: [{ invoice: inv1.id, amount: 4000 }] })
    t.equal(pay.statusCode, 201, pay.raw)
    const list = await auditor.get(`/v1/customers/${cus}/transactions`)
    t.equal(list.statusCode, 200, list.raw)
    t.match(list.body, { object: 'list', has_more: false })
    const rows = list.body.data
    t.same(rows.map((r: any) => [r.type, r.amount, r.balance_before, r.balance_after]), [
      ['payment', -4000, 16500, 12500],
      ['invoice', 5500, 11000, 16500],
      ['invoice', 11000, 0, 11000],
    ])
    t.match(rows[2], {
      object: 'customer_transaction',
      customer: cus,
      currency: 'usd',
      reference: inv1.number,
      source: inv1.id,
      source_type: 'invoice',
      posting_date: '2026-03-01',
      status: 'posted',
      reversed_amount: 0,
      reverses: null,
      reason: null,
      actor: /^key_/,
      journal_entry: inv1.journal_entry,
    })

    const invTxn = rows[1].id
    const partial = await api.post(`/v1/transactions/${invTxn}/reverse`, { amount: 500, reason: 'price correction', posting_date: '2026-03-25' })
    t.equal(partial.statusCode, 200, partial.raw)
    let after = (await api.get(`/v1/customers/${cus}/transactions`)).body.data
    t.match(after[0], { type: 'reversal', amount: -500, reverses: invTxn, reason: 'price correction', status: 'posted' })
    t.match(after.find((r: any) => r.id === invTxn), { status: 'partially_reversed', reversed_amount: 500 })
    const rest = await api.post(`/v1/transactions/${invTxn}/reverse`, { reason: 'cancelled', posting_date: '2026-03-26' })
    t.equal(rest.statusCode, 200, rest.raw)
    after = (await api.get(`/v1/customers/${cus}/transactions`)).body.data
    t.match(after.find((r: any) => r.id === invTxn), { status: 'reversed', reversed_amount: 5500 })

    const first = await api.get(`/v1/customers/${cus}/transactions?limit=2`)
    t.equal(first.body.data.length, 2)
    t.equal(first.body.has_more, true)
    const next = await api.get(`/v1/customers/${cus}/transactions?limit=2&starting_after=${first.body.data[1].id}`)
    t.equal(next.body.data.length, 2)
    t.equal(next.body.has_more, true)
    const last = await api.get(`/v1/customers/${cus}/transactions?limit=2&starting_after=${next.body.data[1].id}`)
    t.same(last.body.data.map((r: any) => r.id), [after[4].id])
    t.equal(last.body.has_more, false)
  })

  await t.test('sub-ledger: permission and tenant isolation', async (t) => {
    t.equal((await cashier.get(`/v1/customers/${cus}/transactions`)).statusCode, 403)
    const foreign = await otherApi.get(`/v1/customers/${cus}/transactions`)
    t.equal(foreign.statusCode, 404)
    t.equal(foreign.body.error.code, 'resource_missing')
    t.equal((await api.get('/v1/customers/cus_0000000000aaaaaaaaaaaaaaaa/transactions')).statusCode, 404)
    t.equal((await api.get(`/v1/customers/${cus}/transactions?limit=101`)).statusCode, 400)
  })

  await t.test('journal entries by source, with lines', async (t) => {
    const res = await auditor.get(`/v1/journal-entries?source=${inv1.id}`)
    t.equal(res.statusCode, 200, res.raw)
    t.equal(res.body.data.length, 1)
    t.match(res.body.data[0], { id: inv1.journal_entry, object: 'journal_entry', entry_date: '2026-03-01', event: 'invoice', source: inv1.id, source_type: 'invoice', currency: 'usd', exchange_rate: '1', reverses: null })
    t.same(res.body.data[0].lines, [
      { line_no: 1, account: '1100', role: 'ar', customer: cus, currency: 'usd', debit: 11000, credit: 0, tx_debit: 11000, tx_credit: 0 },
      { line_no: 2, account: '4000', role: 'revenue', customer: null, currency: 'usd', debit: 0, credit: 10000, tx_debit: 0, tx_credit: 10000 },
      { line_no: 3, account: '2200', role: 'tax', customer: null, currency: 'usd', debit: 0, credit: 1000, tx_debit: 0, tx_credit: 1000 },
    ])
    const reversed = await api.get(`/v1/journal-entries?source=${inv2.id}`)
    t.equal(reversed.body.data.length, 3, 'the invoice and its two reversals')
    t.same(reversed.body.data.map((e: any) => e.reverses), [inv2.journal_entry, inv2.journal_entry, null])

    const one = await api.get(`/v1/journal-entries/${inv1.journal_entry}`)
    t.same(one.body, res.body.data[0])
    t.equal((await otherApi.get(`/v1/journal-entries/${inv1.journal_entry}`)).statusCode, 404)
    t.same((await otherApi.get(`/v1/journal-entries?source=${inv1.id}`)).body.data, [])
    t.equal((await cashier.get('/v1/journal-entries')).statusCode, 403)

    const all = await api.get('/v1/journal-entries?limit=2')
    t.equal(all.body.data.length, 2)
    t.equal(all.body.has_more, true)
  })

  await t.test('accounts', async (t) => {
    const res = await auditor.get('/v1/accounts')
    t.equal(res.statusCode, 200, res.raw)
    t.equal(res.body.data.length, 15)
    t.match(res.body.data.find((a: any) => a.code === '3900'), { name: 'Opening balance equity', type: 'equity' })
    t.match(res.body.data.find((a: any) => a.code === '1100'), { object: 'account', name: 'Accounts receivable', type: 'asset', plugin: 'coa-standard', active: true })
    t.match(res.body.data.find((a: any) => a.code === '2100'), { type: 'liability' })
    t.equal((await cashier.get('/v1/accounts')).statusCode, 403)
  })

  await t.test('trial balance as of a date, from the journal', async (t) => {
    const eurCus = (await api.post('/v1/customers', { name: 'Émile', currency: 'eur' })).body.id
    const eur = await api.post('/v1/invoices', { customer: eurCus, issue_date: '2026-04-10', exchange_rate: '1.1', lines: [{ description: 'x', quantity: 1, unit_amount: 1001 }] })
    t.equal(eur.statusCode, 201, eur.raw)

    const before = await auditor.get('/v1/trial-balance?as_of=2026-02-28')
    t.equal(before.statusCode, 200, before.raw)
    t.match(before.body, { object: 'trial_balance', as_of: '2026-02-28', currency: 'usd', accounts: [], totals: { debit: 0, credit: 0 }, by_currency: [], balanced: true })

    const march1 = await api.get('/v1/trial-balance?as_of=2026-03-01')
    t.same(march1.body.accounts, [
      { account: '1100', name: 'Accounts receivable', type: 'asset', debit: 11000, credit: 0, balance: 11000 },
      { account: '2200', name: 'Tax payable', type: 'liability', debit: 0, credit: 1000, balance: -1000 },
      { account: '4000', name: 'Revenue', type: 'revenue', debit: 0, credit: 10000, balance: -10000 },
    ])

    // Invoices 11000 + 5500 (reversed 500 + 5000), payment 4000 cash, EUR 1001 at 1.1 = 1101 USD.
    const now = await api.get('/v1/trial-balance')
    t.equal(now.statusCode, 200)
    t.equal(now.body.as_of, '2026-06-30', 'default: the tenant’s today')
    const byAccount = Object.fromEntries(now.body.accounts.map((a: any) => [a.account, a]))
    t.match(byAccount['1100'], { debit: 11000 + 5500 + 1101, credit: 4000 + 5500, balance: 11000 + 1101 - 4000 })
    t.match(byAccount['1000'], { debit: 4000, credit: 0 })
    t.match(byAccount['4000'], { debit: 5000, credit: 10000 + 5000 + 1101, balance: -(10000 + 1101) })
    t.match(now.body.totals, { debit: now.body.totals.credit })
    t.equal(now.body.balanced, true)
    t.same(now.body.by_currency.map((c: any) => c.currency), ['eur', 'usd'])
    t.same(now.body.by_currency[0], {
      currency: 'eur',
      accounts: [
        { account: '1100', tx_debit: 1001, tx_credit: 0 },
        { account: '4000', tx_debit: 0, tx_credit: 1001 },
      ],
      total_tx_debit: 1001,
      total_tx_credit: 1001,
      balanced: true,
    })

    // The trial balance reads the journal, not the cached balances.
    await env.admin('customer_balances').where({ customer_id: cus }).update({ pending_balance: 1 })
    t.same((await api.get('/v1/trial-balance')).body, now.body)

    t.equal((await api.get('/v1/trial-balance?as_of=2026-02-30')).statusCode, 400)
    t.equal((await cashier.get('/v1/trial-balance')).statusCode, 403)
    t.same((await otherApi.get('/v1/trial-balance')).body.accounts, [])
  })
})

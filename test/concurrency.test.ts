import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, invoice, payment } from './helpers/ledger'




function tally(responses: { statusCode: number; body: any }[]) {
  const out: Record<string, number> = {}
  for (const r of responses) {
    const key = r.statusCode >= 400 ? `${r.statusCode} ${r.body.error?.code}` : String(r.statusCode)
    out[key] = (out[key] ?? 0) + 1
  }
  return out
}

t.test('concurrency', async (t) => {
  const env = await setupTestEnv(t, { DB_POOL_MAX: 20 })
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const customer = async () => (await api.post('/v1/customers', { name: 'Busy' })).body.id as string

  await t.test('20 parallel allocations into one invoice: it absorbs exactly its outstanding', async (t) => {
    const cus = await customer()
    const payments = []
    for (let i = 0; i < 20; i++) payments.push(await payment(api, cus, 1000))
    const inv = await invoice(api, cus, 5000)
    const responses = await Promise.all(payments.map((p) => api.post('/v1/allocations', { source: p.id, invoice: inv.id, amount: 500 })))
    t.same(tally(responses), { 201: 10, '422 over_allocation': 10 })
    const applied = responses.filter((r) => r.statusCode === 201).reduce((s, r) => s + r.body.amount, 0)
    t.equal(applied, 5000)
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { outstanding: 0, status: 'paid' })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 15000, current_balance: -15000 })
    const unapplied = await env.admin('payments').where({ customer_id: cus }).sum('unapplied_amount as n')
    t.equal(Number(unapplied[0].n), 15000)
  })

  await t.test('50 parallel auto-applied payments for one customer', async (t) => {
    const cus = await customer()
    const invoices = []
    // Created out of due-date order: auto-apply must follow due dates, not creation.
    for (let i = 0; i < 10; i++) {
      const day = String(1 + ((i * 7) % 10) * 2).padStart(2, '0')
      invoices.push(await invoice(api, cus, 10000, { issue_date: '2026-10-01', due_date: `2026-12-${day}` }))
    }
    const amounts = Array.from({ length: 50 }, (_, i) => 1000 + i * 20)
    const paid = amounts.reduce((s, a) => s + a, 0)
    const responses = await Promise.all(amounts.map((amount) => api.post('/v1/payments', { customer: cus, amount, method: 'cash', auto_apply: true })))
    t.same(tally(responses), { 201: 50 })

    t.same(await balance(api, cus), { pending_balance: 100000 - paid, advance_balance: 0, current_balance: 100000 - paid })
    for (const r of responses) t.equal(r.body.allocations.reduce((s: number, a: any) => s + a.amount, 0), r.body.amount, 'each payment fully applied')

    // Paid strictly oldest due date first: settled invoices, at most one partial, then untouched ones.
    const rows = await env.admin('invoices').where({ customer_id: cus }).orderBy(['due_date', 'issue_date', 'id'])
    t.ok(rows.every((r: any) => r.outstanding >= 0 && r.outstanding <= r.total))
    const pattern = rows.map((r: any) => (r.outstanding === 0 ? 'paid' : r.outstanding === r.total ? 'open' : 'partial')).join(' ')
    t.match(pattern, /^(paid ?)*(partial ?)?(open ?)*$/, pattern)
    t.equal(rows.reduce((s: number, r: any) => s + r.outstanding, 0), 100000 - paid)
    const allocated = await env.admin('allocations').where({ customer_id: cus, status: 'applied' }).select('invoice_id').sum('amount as n').groupBy('invoice_id')
    const byInvoice = new Map(allocated.map((a: any) => [a.invoice_id, Number(a.n)]))
    for (const r of rows) t.equal(r.total - r.outstanding, byInvoice.get(r.id) ?? 0, `allocations of ${r.id}`)

    // The sub-ledger: every row adds up, and the rows chain without gaps from 0 to the final balance.
    // Invoices were posted one by one and payments only lower the balance, so within each phase a
    // balance occurs once and the chain is found by following balance_before → balance_after.
    const txns = await env.admin('customer_transactions').where({ customer_id: cus })
    t.equal(txns.length, 60)
    t.ok(txns.every((x: any) => x.balance_after === x.balance_before + x.amount))
    const walk = (rows: any[], start: number) => {
      const byBefore = new Map(rows.map((x) => [x.balance_before, x]))
      t.equal(byBefore.size, rows.length, 'no balance repeats within a phase')
      let at = start
      for (let i = 0; i < rows.length && byBefore.has(at); i++) at = byBefore.get(at).balance_after
      return at
    }
    t.equal(walk(txns.filter((x: any) => x.type === 'invoice'), 0), 100000)
    t.equal(walk(txns.filter((x: any) => x.type === 'payment'), 100000), 100000 - paid, 'the chain ends at the final balance')
  })

  await t.test('10 parallel un-applies of one allocation: exactly one wins', async (t) => {
    const cus = await customer()
    const inv = await invoice(api, cus, 3000)
    const pay = await payment(api, cus, 3000, { allocations: [{ invoice: inv.id, amount: 3000 }] })
    const alc = pay.allocations[0].id
    const responses = await Promise.all(Array.from({ length: 10 }, () => api.post(`/v1/allocations/${alc}/reverse`, { reason: 'race' })))
    t.same(tally(responses), { 200: 1, '422 already_reversed': 9 })
    t.same(await balance(api, cus), { pending_balance: 3000, advance_balance: 3000, current_balance: 0 })
    t.equal((await env.admin('journal_entries').where({ source_id: alc })).length, 1, 'one reversal entry')
  })

  await t.test('10 parallel refunds against too little credit: never below zero', async (t) => {
    const cus = await customer()
    await payment(api, cus, 1000)
    const responses = await Promise.all(Array.from({ length: 10 }, () => api.post('/v1/refunds', { customer: cus, amount: 300, method: 'cash', reason: 'race' })))
    t.same(tally(responses), { 201: 3, '422 refund_exceeds_credit': 7 })
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 100, current_balance: -100 })
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, counts, customer, intact, invoice } from './helpers/ledger'

// POST /v1/payments and /v1/write-offs requests of one tenant that arrive together are planned
// into one plan and written together (core/workflows/steps/batch.ts). Each must get the answer it
// would get alone, in arrival order, and a refused one writes nothing.

t.test('payment batches', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)

  await t.test('auto-applied payments of one customer settle the oldest invoices in arrival order', async (t) => {
    const cus = await customer(api)
    const invs: { id: string }[] = []
    for (let i = 0; i < 4; i++) invs.push(await invoice(api, cus, 1000, { issue_date: '2026-11-01', due_date: `2026-11-1${i}` }))
    const before = await counts(env)
    // 7 × 600 = 4,200 against 4,000 owed: the first six settle invoices (two per three payments),
    // the seventh is advance only; a bad currency in the middle is refused on its own.
    const bodies = Array.from({ length: 7 }, () => ({ customer: cus, amount: 600, method: 'cash', auto_apply: true })) as Record<string, unknown>[]
    bodies.splice(3, 0, { customer: cus, amount: 600, method: 'cash', currency: 'eur', auto_apply: true })
    const res = await Promise.all(bodies.map((b) => api.post('/v1/payments', b)))
    t.equal(res[3].statusCode, 422)
    t.equal(res[3].body.error.code, 'currency_mismatch')
    const ok = res.filter((_, i) => i !== 3)
    t.ok(ok.every((r) => r.statusCode === 201), ok.map((r) => r.statusCode).join(','))
    const applied = ok.map((r) => r.body.allocations.map((a: { invoice: string; amount: number }) => [invs.findIndex((i) => i.id === a.invoice), a.amount]))
    t.same(applied, [[[0, 600]], [[0, 400], [1, 200]], [[1, 600]], [[1, 200], [2, 400]], [[2, 600]], [[3, 600]], [[3, 400]]])
    t.same(ok.map((r) => r.body.unapplied_amount), [0, 0, 0, 0, 0, 0, 200])
    const statuses = await Promise.all(invs.map(async (i) => (await api.get(`/v1/invoices/${i.id}`)).body))
    t.same(statuses.map((i) => [i.status, i.outstanding]), [['paid', 0], ['paid', 0], ['paid', 0], ['paid', 0]])
    t.match(await balance(api, cus), { pending_balance: 0, advance_balance: 200, current_balance: -200 })
    const after = await counts(env)
    t.equal(after.payments - before.payments, 7, 'the refused payment wrote nothing')
    t.equal(after.allocations - before.allocations, 9)
    t.equal((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'invoice.paid' })).length, 4, 'each invoice announced paid once')
    await intact(t, env, tenant.uuid)
  })

  await t.test('a payment and write-offs of one invoice in one batch: each checked against what the earlier ones leave', async (t) => {
    const cus = await customer(api)
    const inv = await invoice(api, cus, 1000)
    // Payments and write-offs are batched apart (one queue per document kind), so which kind's batch
    // commits first is a race (lost by the payments once, through PgBouncer on a loaded machine):
    // the payments go first, then the write-offs, each pair at once.
    const res = [
      ...(await Promise.all([
        api.post('/v1/payments', { customer: cus, amount: 700, method: 'card', allocations: [{ invoice: inv.id, amount: 700 }] }),
        api.post('/v1/payments', { customer: cus, amount: 400, method: 'card', allocations: [{ invoice: inv.id, amount: 400 }] }),
      ])),
      ...(await Promise.all([
        api.post('/v1/write-offs', { invoice: inv.id, amount: 300, reason: 'Small balance' }),
        api.post('/v1/write-offs', { invoice: inv.id, amount: 1, reason: 'Nothing left' }),
      ])),
    ]
    t.equal(res[0].statusCode, 201, res[0].raw)
    t.equal(res[1].statusCode, 422, 'only 300 is left after the first payment')
    t.equal(res[1].body.error.code, 'over_allocation')
    t.equal(res[2].statusCode, 201, res[2].raw)
    t.equal(res[3].statusCode, 422)
    t.equal(res[3].body.error.code, 'write_off_exceeds_outstanding')
    t.match((await api.get(`/v1/invoices/${inv.id}`)).body, { status: 'paid', outstanding: 0 })
    t.match(await balance(api, cus), { pending_balance: 0, advance_balance: 0 })
    await intact(t, env, tenant.uuid)
  })

  await t.test('a foreign-currency invoice settled in two payments of one batch leaves no base residue in AR', async (t) => {
    const foreign = await env.tenant({ base_currency: 'usd' })
    const fapi = env.api(foreign.key)
    const cus = await customer(fapi, { currency: 'eur' })
    const inv = await invoice(fapi, cus, 999, { exchange_rate: '1.1' })
    const res = await Promise.all([
      fapi.post('/v1/payments', { customer: cus, amount: 333, method: 'bank_transfer', exchange_rate: '1.2', allocations: [{ invoice: inv.id, amount: 333 }] }),
      fapi.post('/v1/payments', { customer: cus, amount: 666, method: 'bank_transfer', exchange_rate: '1.3', allocations: [{ invoice: inv.id, amount: 666 }] }),
    ])
    t.same(res.map((r) => r.statusCode), [201, 201], res.map((r) => r.raw).join('\n'))
    const { rows } = await env.admin.raw(
      `select coalesce(sum(debit - credit), 0)::bigint as ar from journal_lines where tenant_id = ? and customer_id = ? and role = 'ar'`,
      [foreign.uuid, cus],
    )
    t.equal(Number(rows[0].ar), 0, 'the AR base of a paid invoice is cleared exactly')
    await intact(t, env, foreign.uuid)
  })

  await t.test('a request refused after part of it was planned leaves nothing for the next one in the batch', async (t) => {
    // The first sale is refused at its payment (an overpayment), after its invoice was planned
    // against the customer's credit limit; the second must be checked as if the first never came.
    const cus = await customer(api, { credit_limit: 1000 })
    const lines = (amount: number) => [{ description: 'Goods', quantity: 1, unit_amount: amount }]
    const before = await counts(env)
    const [refused, sold] = await Promise.all([
      api.post('/v1/sales', { customer: cus, lines: lines(800), payment: { method: 'card', amount: 900 } }),
      api.post('/v1/sales', { customer: cus, lines: lines(900) }),
    ])
    t.equal(refused.statusCode, 422, refused.raw)
    t.equal(refused.body.error.code, 'overpayment')
    t.equal(sold.statusCode, 201, sold.raw)
    const after = await counts(env)
    t.equal(after.invoices - before.invoices, 1)
    t.equal(after.sales - before.sales, 1)
    t.equal(after.journal_entries - before.journal_entries, 1)
    t.match(await balance(api, cus), { pending_balance: 900, advance_balance: 0 })
    await intact(t, env, tenant.uuid)
  })
})

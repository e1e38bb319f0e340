import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { agingBucket, daysBetween } from '../core/reports/aging'
import { agingReport } from '../core/reports/service'
import { computeFacts } from '../core/reports/credit-facts'
import { withTenant } from '../core/kernel/db/tenant'
import { systemContext } from '../core/kernel/context'
import { builtInAccess } from '../core/kernel/permissions'

t.test('agingBucket: dpd → bucket, boundaries inclusive', async (t) => {
  const cases: [number, string][] = [
    [-400, 'current'], [-1, 'current'], [0, 'current'],
    [1, '1_30'], [30, '1_30'],
    [31, '31_60'], [60, '31_60'],
    [61, '61_90'], [90, '61_90'],
    [91, '90_plus'], [5000, '90_plus'],
  ]
  for (const [dpd, bucket] of cases) t.equal(agingBucket(dpd), bucket, `dpd ${dpd}`)
  t.throws(() => agingBucket(1.5))
  t.equal(daysBetween('2026-03-31', '2026-06-30'), 91)
  t.equal(daysBetween('2024-02-28', '2024-03-01'), 2, 'leap year')
  t.equal(daysBetween('2026-07-01', '2026-06-30'), -1)
})

t.test('aging report and statements', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ sandbox: true })
  // A fixed accounting today: actions without a date (un-applying, allocating) post on it.
  await env.admin('tenants').where({ tenant_id: tenant.uuid }).update({ test_clock_date: '2026-11-21' })
  const api = env.api(tenant.key)
  const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
  const ok = async (res: Promise<{ statusCode: number; raw: string; body: any }>, status = 201) => {
    const r = await res
    t.equal(r.statusCode, status, r.raw)
    return r.body
  }
  const customer = async (name: string) => (await ok(api.post('/v1/customers', { name }))).id
  const invoice = (cus: string, issue_date: string, due_date: string, amount: number) =>
    ok(api.post('/v1/invoices', { customer: cus, issue_date, due_date, lines: [{ description: 'x', quantity: 1, unit_amount: amount }] }))

  const ada = await customer('Ada')
  const bob = await customer('Bob')
  const a1 = await invoice(ada, '2026-01-01', '2026-01-31', 1000) // dpd 150 on 06-30
  const a2 = await invoice(ada, '2026-05-01', '2026-05-31', 2000) // dpd 30
  const a3 = await invoice(ada, '2026-06-15', '2026-06-30', 300) // dpd 0
  await invoice(ada, '2026-07-05', '2026-08-04', 999) // issued after 06-30
  const b1 = await invoice(bob, '2026-03-01', '2026-04-01', 500) // dpd 90
  const b2 = await invoice(bob, '2026-03-01', '2026-03-31', 400) // dpd 91
  const b3 = await invoice(bob, '2026-04-01', '2026-05-01', 250) // dpd 60
  const adaPay = await ok(api.post('/v1/payments', { customer: ada, amount: 500, method: 'cash', received_date: '2026-06-10', allocations: [{ invoice: a2.id, amount: 500 }] }))
  const bobPay = await ok(api.post('/v1/payments', { customer: bob, amount: 700, method: 'cash', received_date: '2026-06-01' }))
  // Paid in full before 06-30 (so not in the June report); the payment is un-applied after it.
  const cyd = await customer('Cyd')
  const c1 = await invoice(cyd, '2026-06-01', '2026-06-20', 80)
  const cydPay = await ok(api.post('/v1/payments', { customer: cyd, amount: 80, method: 'cash', received_date: '2026-06-05', allocations: [{ invoice: c1.id, amount: 80 }] }))

  const june = {
    object: 'aging_report',
    as_of: '2026-06-30',
    currency: 'usd',
    buckets: { current: 300, '1_30': 1500, '31_60': 250, '61_90': 500, '90_plus': 1400 },
    unapplied_credits: 700,
    total: 3950 - 700,
    // One currency: the breakdown and the base amounts are the amounts themselves.
    currencies: [
      {
        currency: 'usd', buckets: { current: 300, '1_30': 1500, '31_60': 250, '61_90': 500, '90_plus': 1400 }, unapplied_credits: 700, total: 3250,
        base: { buckets: { current: 300, '1_30': 1500, '31_60': 250, '61_90': 500, '90_plus': 1400 }, unapplied_credits: 700, total: 3250 },
      },
    ],
    customers: [
      {
        customer: ada, name: 'Ada', currency: 'usd',
        buckets: { current: 300, '1_30': 1500, '31_60': 0, '61_90': 0, '90_plus': 1000 },
        current: 300, '1_30': 1500, '31_60': 0, '61_90': 0, '90_plus': 1000,
        unapplied_credits: 0, total: 2800,
        base: { currency: 'usd', buckets: { current: 300, '1_30': 1500, '31_60': 0, '61_90': 0, '90_plus': 1000 }, unapplied_credits: 0, total: 2800 },
      },
      {
        customer: bob, name: 'Bob', currency: 'usd',
        buckets: { current: 0, '1_30': 0, '31_60': 250, '61_90': 500, '90_plus': 400 },
        current: 0, '1_30': 0, '31_60': 250, '61_90': 500, '90_plus': 400,
        unapplied_credits: 700, total: 450,
        base: { currency: 'usd', buckets: { current: 0, '1_30': 0, '31_60': 250, '61_90': 500, '90_plus': 400 }, unapplied_credits: 700, total: 450 },
      },
    ],
  }

  await t.test('as of a date: buckets by days past due, unapplied credits apart', async (t) => {
    const res = await api.get('/v1/reports/aging?as_of=2026-06-30')
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body, june)
  })

  await t.test('everything dated after as_of is ignored', async (t) => {
    await ok(api.post('/v1/payments', { customer: ada, amount: 1000, method: 'cash', received_date: '2026-07-10', allocations: [{ invoice: a1.id, amount: 1000 }] }))
    await ok(api.post('/v1/write-offs', { invoice: b1.id, amount: 100, reason: 'disputed', posting_date: '2026-07-02' }))
    await ok(api.post(`/v1/invoices/${a3.id}/void`, { reason: 'duplicate', posting_date: '2026-07-03' }), 200)
    const b2txn = (await api.get(`/v1/customers/${bob}/transactions?limit=100`)).body.data.find((x: any) => x.source === b2.id)
    await ok(api.post(`/v1/transactions/${b2txn.id}/reverse`, { amount: 150, reason: 'price', posting_date: '2026-07-04' }), 200)
    await ok(api.post('/v1/refunds', { customer: bob, amount: 100, source: bobPay.id, method: 'cash', reason: 'asked', refund_date: '2026-07-06' }))
    // Dated today (the action date): after 06-30 too.
    await ok(api.post(`/v1/allocations/${adaPay.allocations[0].id}/reverse`, { reason: 'wrong invoice' }), 200)
    await ok(api.post('/v1/allocations', { source: bobPay.id, invoice: b3.id, amount: 250 }))
    // Cyd owes 80 today, and owed nothing on 06-30: still no row.
    await ok(api.post(`/v1/allocations/${cydPay.allocations[0].id}/reverse`, { reason: 'wrong invoice' }), 200)
    t.match((await api.get(`/v1/invoices/${c1.id}`)).body, { outstanding: 80 })

    t.same((await api.get('/v1/reports/aging?as_of=2026-06-30')).body, june)
  })

  await t.test('credit-policy facts of some customers equal their facts among all (the movements after as_of included)', async (t) => {
    const facts = (ids: string[] | null) => withTenant(env.db, tenant.uuid, (trx) => computeFacts(trx, tenant.uuid, '2026-06-30', ids, 0))
    const all = new Map((await facts(null)).map((f) => [f.customer, f]))
    const byName = Object.fromEntries(june.customers.map((c) => [c.customer, c]))
    for (const id of [ada, bob, cyd]) {
      const [one] = await facts([id])
      t.same(one, all.get(id), `${id} alone`)
      const row = byName[id]
      t.equal(one.facts.pending_balance, row ? row.current + row['1_30'] + row['31_60'] + row['61_90'] + row['90_plus'] : 0, `${id}: pending as in the June report`)
    }
  })

  await t.test('as of today it agrees with the cached balances', async (t) => {
    const res = await api.get('/v1/reports/aging')
    t.equal(res.statusCode, 200)
    t.equal(res.body.as_of, '2026-11-21')
    for (const c of res.body.customers) {
      const bal = (await api.get(`/v1/customers/${c.customer}`)).body.balance
      const open = c.current + c['1_30'] + c['31_60'] + c['61_90'] + c['90_plus']
      t.equal(open, bal.pending_balance, `${c.name} pending`)
      t.equal(c.unapplied_credits, bal.advance_balance, `${c.name} advance`)
      t.equal(c.total, bal.current_balance, `${c.name} current`)
    }
    const byName = Object.fromEntries(res.body.customers.map((c: any) => [c.name, c]))
    t.match(byName.Ada, { '90_plus': 2000 + 999, unapplied_credits: 500, total: 2999 - 500 })
    t.match(byName.Bob, { '90_plus': 400 + 250, '31_60': 0, unapplied_credits: 350 })
    t.ok(res.body.customers.every((c: any) => c.customer !== undefined))
  })

  await t.test('read in batches (a cursor, rows put at their rank): the same report, in name order', async (t) => {
    const whole = (await api.get('/v1/reports/aging?as_of=2026-06-30')).body
    t.ok(whole.customers.length >= 2, 'more rows than the smallest batch')
    const ctx = systemContext(tenant.uuid, builtInAccess('admin'), 'test')
    for (const batch of [1, 2, whole.customers.length, whole.customers.length + 1]) {
      const report = await withTenant(env.db, tenant.uuid, (trx) => agingReport(trx, ctx, { as_of: '2026-06-30' }, batch))
      t.same(JSON.parse(JSON.stringify(report)), whole, `batches of ${batch}`)
    }
    const names = whole.customers.map((c: any) => c.name)
    t.same(names, [...names].sort((a: string, b: string) => a.localeCompare(b, 'und')), 'name order')
  })

  await t.test('before anything happened: empty', async (t) => {
    const res = await api.get('/v1/reports/aging?as_of=2025-12-31')
    t.same(res.body.customers, [])
    t.same(res.body.buckets, { current: 0, '1_30': 0, '31_60': 0, '61_90': 0, '90_plus': 0 })
    t.equal(res.body.total, 0)
    t.same(res.body.currencies, [])
  })

  await t.test('mixed currencies: totals in base currency, each item at its own rate, broken down per currency', async (t) => {
    const fx = await env.tenant({ name: 'FX shop', sandbox: true, base_currency: 'usd' })
    await env.admin('tenants').where({ tenant_id: fx.uuid }).update({ test_clock_date: '2026-11-21' })
    const fxApi = env.api(fx.key)
    const make = async (name: string, currency: string) => (await ok(fxApi.post('/v1/customers', { name, currency }))).id as string
    const ken = await make('Ken', 'jpy')
    const uma = await make('Uma', 'usd')
    const fxInvoice = (cus: string, issue_date: string, due_date: string, amount: number, exchange_rate?: string) =>
      ok(fxApi.post('/v1/invoices', { customer: cus, issue_date, due_date, exchange_rate, lines: [{ description: 'x', quantity: 1, unit_amount: amount }] }))
    // Rates are base minor units per yen (JPY has no minor unit): ¥120,000 at 0.67 is $804.00.
    const big = await fxInvoice(ken, '2026-06-01', '2026-06-30', 120000, '0.67') // current on 06-30
    const small = await fxInvoice(ken, '2026-03-01', '2026-04-01', 1001, '0.665') // dpd 90; 665.665 rounds half up to 666
    t.equal(big.total_base, 80400)
    t.equal(small.total_base, 666)
    await fxInvoice(uma, '2026-05-01', '2026-05-31', 50000) // dpd 30
    await ok(fxApi.post('/v1/payments', { customer: ken, amount: 10000, method: 'cash', received_date: '2026-06-10', exchange_rate: '0.7' })) // ¥10,000 unapplied = $70.00

    const res = await fxApi.get('/v1/reports/aging?as_of=2026-06-30')
    t.equal(res.statusCode, 200, res.raw)
    t.equal(res.headers['content-type'], 'application/json; charset=utf-8', 'sent as JSON (the route serializes it itself)')
    const zero = { current: 0, '1_30': 0, '31_60': 0, '61_90': 0, '90_plus': 0 }
    const kenBase = { buckets: { ...zero, current: 80400, '61_90': 666 }, unapplied_credits: 7000, total: 80400 + 666 - 7000 }
    const umaAmounts = { buckets: { ...zero, '1_30': 50000 }, unapplied_credits: 0, total: 50000 }
    t.same(res.body, {
      object: 'aging_report',
      as_of: '2026-06-30',
      currency: 'usd',
      // In cents: not ¥120,000 + $500.00 + ¥1,001 − ¥10,000 added as they are (161001).
      buckets: { ...zero, current: 80400, '1_30': 50000, '61_90': 666 },
      unapplied_credits: 7000,
      total: 80400 + 50000 + 666 - 7000,
      currencies: [
        { currency: 'jpy', buckets: { ...zero, current: 120000, '61_90': 1001 }, unapplied_credits: 10000, total: 111001, base: kenBase },
        { currency: 'usd', ...umaAmounts, base: umaAmounts },
      ],
      customers: [
        {
          customer: ken, name: 'Ken', currency: 'jpy',
          buckets: { ...zero, current: 120000, '61_90': 1001 }, ...zero, current: 120000, '61_90': 1001,
          unapplied_credits: 10000, total: 111001,
          base: { currency: 'usd', ...kenBase },
        },
        { customer: uma, name: 'Uma', currency: 'usd', ...umaAmounts, ...umaAmounts.buckets, base: { currency: 'usd', ...umaAmounts } },
      ],
    })
    t.equal(res.body.total, 124066)

    // Part of the big invoice paid: its outstanding is converted at the invoice's rate, not the payment's.
    await ok(fxApi.post('/v1/payments', { customer: ken, amount: 20001, method: 'cash', received_date: '2026-07-01', exchange_rate: '0.9', allocations: [{ invoice: big.id, amount: 20001 }] }))
    t.same((await fxApi.get('/v1/reports/aging?as_of=2026-06-30')).body, res.body, 'June unchanged: the paid part counted back at the invoice rate')
    const july = (await fxApi.get('/v1/reports/aging?as_of=2026-07-01')).body
    const kenJuly = july.customers.find((c: any) => c.customer === ken)
    t.equal(kenJuly['1_30'], 99999)
    t.equal(kenJuly.base.buckets['1_30'], 66999, '99,999 × 0.67 = 66,999.33 → 66,999')
    t.equal(july.total, kenJuly.base.total + 50000)
    t.equal(july.currencies.find((c: any) => c.currency === 'jpy').base.total, kenJuly.base.total)
  })

  await t.test('aging: permission, bad date, tenant isolation', async (t) => {
    t.equal((await cashier.get('/v1/reports/aging')).statusCode, 403)
    t.equal((await api.get('/v1/reports/aging?as_of=2026-13-01')).statusCode, 400)
    const other = await env.tenant({ name: 'Other' })
    t.same((await env.api(other.key).get('/v1/reports/aging?as_of=2026-06-30')).body.customers, [])
  })

  await t.test('statement: opening balance, rows in range with running balance, closing balance', async (t) => {
    const res = await api.get(`/v1/customers/${ada}/statement?from=2026-06-01&to=2026-06-30`)
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.headers['content-type'], /application\/json/)
    t.match(res.body, {
      object: 'statement', customer: ada, name: 'Ada', currency: 'usd', from: '2026-06-01', to: '2026-06-30',
      opening_balance: 3000, closing_balance: 2800, total_debits: 300, total_credits: 500,
    })
    t.same(res.body.transactions.map((r: any) => [r.posting_date, r.type, r.amount, r.running_balance]), [
      ['2026-06-10', 'payment', -500, 2500],
      ['2026-06-15', 'invoice', 300, 2800],
    ])
    const july = await api.get(`/v1/customers/${ada}/statement?from=2026-07-01&to=2026-07-31`)
    t.equal(july.body.opening_balance, 2800, 'the next opening balance is this closing balance')
    t.same(july.body.transactions.map((r: any) => [r.posting_date, r.type, r.amount]), [
      ['2026-07-03', 'reversal', -300],
      ['2026-07-05', 'invoice', 999],
      ['2026-07-10', 'payment', -1000],
    ])
    t.equal(july.body.closing_balance, 2800 - 300 + 999 - 1000)
  })

  await t.test('statement as CSV and PDF', async (t) => {
    const csv = await api.get(`/v1/customers/${ada}/statement?from=2026-06-01&to=2026-06-30&format=csv`)
    t.equal(csv.statusCode, 200)
    t.match(csv.headers['content-type'], /^text\/csv/)
    t.match(csv.headers['content-disposition'], /attachment; filename="statement-cus_.*\.csv"/)
    const lines = csv.raw.trim().split('\n')
    t.same(lines[0], 'date,type,reference,transaction,amount,balance,currency')
    t.same(lines[1], '2026-06-01,opening_balance,,,,30.00,usd')
    t.match(lines[2], /^2026-06-10,payment,pay_\w+,txn_\w+,-5\.00,25\.00,usd$/)
    t.match(lines[3], new RegExp(`^2026-06-15,invoice,${a3.number},txn_\\w+,3\\.00,28\\.00,usd$`))
    t.same(lines[4], '2026-06-30,closing_balance,,,,28.00,usd')

    const pdf = await env.app.inject({ method: 'GET', url: `/v1/customers/${ada}/statement?format=pdf&from=2026-01-01&to=2026-12-31`, headers: { authorization: `Bearer ${tenant.key}` } })
    t.equal(pdf.statusCode, 200)
    t.equal(pdf.headers['content-type'], 'application/pdf')
    t.equal(pdf.rawPayload.subarray(0, 5).toString(), '%PDF-')
    t.ok(pdf.rawPayload.length > 1000)
  })

  await t.test('statement: defaults, validation, permission, isolation', async (t) => {
    const res = await api.get(`/v1/customers/${ada}/statement`)
    t.equal(res.statusCode, 200)
    t.match(res.body, { from: '2026-11-01', to: '2026-11-21' })
    t.equal((await api.get(`/v1/customers/${ada}/statement?from=2026-07-01&to=2026-06-30`)).statusCode, 400)
    t.equal((await api.get(`/v1/customers/${ada}/statement?format=xml`)).statusCode, 400)
    t.equal((await cashier.get(`/v1/customers/${ada}/statement`)).statusCode, 403)
    const other = await env.tenant({ name: 'Other 2' })
    t.equal((await env.api(other.key).get(`/v1/customers/${ada}/statement`)).statusCode, 404)
  })
})

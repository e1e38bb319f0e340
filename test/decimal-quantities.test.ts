import t from 'tap'
import fc from 'fast-check'
import { parseQuantity, quantityFromDb, quantityOut, quantityTimes, quantityToDb } from '../core/kernel/quantity'
import { setupTestEnv } from './helpers/app'
import { balanced, counts, customer } from './helpers/ledger'

t.test('quantity arithmetic (pure)', async (t) => {
  t.equal(parseQuantity(2, 'q'), 2000)
  t.equal(parseQuantity('1.5', 'q'), 1500)
  t.equal(parseQuantity('0.125', 'q'), 125)
  t.equal(parseQuantity('1000000', 'q'), 1_000_000_000)
  for (const bad of ['0', '0.000', '1.2345', '-1', '1e3', '1.', '.5', '1000000.001', 0, -1, 1.5]) t.throws(() => parseQuantity(bad as any, 'q'), { code: 'validation_failed' }, String(bad))
  t.equal(quantityOut(2000), 2)
  t.equal(quantityOut(1500), '1.5')
  t.equal(quantityOut(125), '0.125')
  t.equal(quantityToDb(1500), '1.500')
  t.equal(quantityFromDb('1.500'), 1500)
  t.equal(quantityTimes(1500, 333), 500, '499.5 rounds half up')
  t.equal(quantityTimes(1499, 333), 499)
  t.equal(quantityTimes(125, 1), 0)

  // round_half_up(q × u) against an exact rational reference (q = m / 1000): the result r satisfies
  // (r − ½) ≤ q·u < (r + ½), i.e. 2000r − 1000 ≤ 2mu < 2000r + 1000, computed in BigInt.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000_000 }), fc.integer({ min: 0, max: 10_000_000_000_000 }), (m, u) => {
      // Beyond MAX_AMOUNT the caller refuses the amount (invalid_amount) anyway.
      fc.pre(BigInt(m) * BigInt(u) <= 10_000_000_000_000n * 1000n)
      const r = BigInt(quantityTimes(m, u))
      const twice = 2n * BigInt(m) * BigInt(u)
      return 2000n * r - 1000n <= twice && twice < 2000n * r + 1000n
    }),
    { numRuns: 5000 },
  )
  // Output and storage round-trip; a decimal string parses back to the same thousandths.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000_000 }), (m) => {
      const out = quantityOut(m)
      return quantityFromDb(quantityToDb(m)) === m && parseQuantity(typeof out === 'number' ? out : out, 'q') === m
    }),
  )
  // Splitting a line's return into parts: the telescoped shares add up to the line's net.
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 1_000_000 }), fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 10 }), (total, u, weights) => {
      const sum = weights.reduce((s, w) => s + w, 0)
      let returned = 0
      let nets = 0
      weights.forEach((w, i) => {
        const q = i === weights.length - 1 ? total - returned : Math.floor((total * w) / sum)
        nets += quantityTimes(returned + q, u) - quantityTimes(returned, u)
        returned += q
      })
      return nets === quantityTimes(total, u)
    }),
  )
})

t.test('decimal quantities through the API', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cus = await customer(api)

  await t.test('an invoice by weight: net = round_half_up(quantity × unit_amount)', async (t) => {
    const res = await api.post('/v1/invoices', {
      customer: cus,
      lines: [
        { description: 'Cheese (kg)', quantity: '1.5', unit_amount: 333, tax_rate: '0.1', unit_cost: 201 },
        { description: 'Olives (kg)', quantity: '0.125', unit_amount: 1999 },
        { description: 'Bread', quantity: 2, unit_amount: 250 },
        { description: 'Jam', quantity: '3.000', unit_amount: 100 },
      ],
    })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body.lines, [
      { quantity: '1.5', net_amount: 500, tax_amount: 50, returned_quantity: 0 },
      { quantity: '0.125', net_amount: 250 },
      { quantity: 2, net_amount: 500 },
      { quantity: 3, net_amount: 300 },
    ])
    t.equal(res.body.subtotal, 1550)
    t.equal(res.body.total, 1600)
    await balanced(t, env, res.body.journal_entry)
    const cogs = await env.admin('journal_lines').where({ entry_id: res.body.journal_entry, account_code: '5000' }).first()
    t.equal(Number(cogs.debit), 302, 'cost 1.5 × 201 = 301.5 → 302')
    t.same((await api.get(`/v1/invoices/${res.body.id}`)).body.lines.map((l: any) => l.quantity), ['1.5', '0.125', 2, 3])
    const row = await env.admin('invoice_lines').where({ invoice_id: res.body.id, line_no: 1 }).first()
    t.equal(row.quantity, '1.500')

    // Returns by decimal quantity: the parts add up to the line exactly.
    const parts = ['0.5', '0.5', '0.5']
    const nets: number[] = []
    for (const q of parts) {
      const cn = await api.post('/v1/credit-notes', { customer: cus, invoice: res.body.id, lines: [{ invoice_line: 1, quantity: q }], reason: 'Returned' })
      t.equal(cn.statusCode, 201, cn.raw)
      t.equal(cn.body.lines[0].quantity, '0.5')
      nets.push(cn.body.lines[0].net_amount)
    }
    t.same(nets, [167, 166, 167])
    t.equal(nets.reduce((s, n) => s + n, 0), 500)
    const after = (await api.get(`/v1/invoices/${res.body.id}`)).body
    t.equal(after.lines[0].returned_quantity, '1.5')
    t.equal(after.lines[0].quantity, '1.5')
    const over = await api.post('/v1/credit-notes', { customer: cus, invoice: res.body.id, lines: [{ invoice_line: 1, quantity: '0.001' }], reason: 'x' })
    t.equal(over.statusCode, 422, over.raw)
    t.match(over.body.error, { code: 'return_quantity_exceeded', details: { sold: '1.5', returned: '1.5', requested: '0.001' } })
    const olives = await api.post('/v1/credit-notes', { customer: cus, invoice: res.body.id, lines: [{ invoice_line: 2, quantity: '0.1' }], reason: 'x' })
    t.equal(olives.statusCode, 201, olives.raw)
    t.equal(olives.body.lines[0].net_amount, 200, '0.1 × 1999 = 199.9 → 200')
    const olivesRest = await api.post('/v1/credit-notes', { customer: cus, invoice: res.body.id, lines: [{ invoice_line: 2, quantity: '0.025' }], reason: 'x' })
    t.equal(olivesRest.body.lines[0].net_amount, 50, 'the rest of 250')
    // A voided return gives its quantity back.
    const voided = await api.post(`/v1/credit-notes/${olivesRest.body.id}/void`, { reason: 'mistake' })
    if (voided.statusCode === 404) {
      const rev = await api.post(`/v1/transactions/${olivesRest.body.transaction}/reverse`, { reason: 'mistake' })
      t.equal(rev.statusCode, 200, rev.raw)
    } else t.equal(voided.statusCode, 200, voided.raw)
    t.equal((await api.get(`/v1/invoices/${res.body.id}`)).body.lines[1].returned_quantity, '0.1')
  })

  await t.test('voiding a middle return of a decimal split leaves no rounding unit: the last return takes exactly what is left', async (t) => {
    const inv = await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'Cheese (kg)', quantity: '1.5', unit_amount: 333, tax_rate: '0.1', unit_cost: 201 }] })
    t.equal(inv.statusCode, 201, inv.raw)
    t.match(inv.body.lines[0], { net_amount: 500, tax_amount: 50 })
    const ret = async (quantity: string) => {
      const cn = await api.post('/v1/credit-notes', { customer: cus, invoice: inv.body.id, lines: [{ invoice_line: 1, quantity }], reason: 'Returned' })
      t.equal(cn.statusCode, 201, cn.raw)
      return cn.body
    }
    const first = await ret('0.5')
    const middle = await ret('0.5')
    const third = await ret('0.5')
    t.same([first, middle, third].map((c) => c.lines[0].net_amount), [167, 166, 167])
    const rev = await api.post(`/v1/transactions/${middle.transaction}/reverse`, { reason: 'returned by mistake' })
    t.equal(rev.statusCode, 200, rev.raw)
    t.equal((await api.get(`/v1/invoices/${inv.body.id}`)).body.lines[0].returned_quantity, 1)
    const last = await ret('0.5')
    t.equal((await api.get(`/v1/invoices/${inv.body.id}`)).body.lines[0].returned_quantity, '1.5')
    const issued = await env.admin('credit_note_lines as l').join('credit_notes as c', 'c.id', 'l.credit_note_id').where({ 'l.invoice_id': inv.body.id, 'c.status': 'issued' }).select('l.net_amount', 'l.tax_amount', 'l.cost_amount')
    t.equal(issued.length, 3, 'three returns stand')
    const sum = (k: string) => issued.reduce((s: number, l: any) => s + Number(l[k]), 0)
    t.equal(sum('net_amount'), 500, 'the returns add up to the line net')
    t.equal(sum('tax_amount'), 50, 'and to its tax')
    t.equal(sum('cost_amount'), 302, 'and to its cost (1.5 × 201 = 301.5 → 302)')
    t.equal(last.lines[0].net_amount, 166, 'the last return takes the net left (500 − 167 − 167), not round(1.5 × 333) − round(1 × 333)')
    await balanced(t, env, last.journal_entry)
  })

  await t.test('a sale by weight and its cancellation restores the decimal quantity', async (t) => {
    const sale = await api.post('/v1/sales', { customer: cus, lines: [{ description: 'Coffee beans (kg)', quantity: '0.75', unit_amount: 2400, product_ref: 'BEANS' }], payment: { method: 'cash', amount: 1800 } })
    t.equal(sale.statusCode, 201, sale.raw)
    t.match(sale.body.invoice, { total: 1800, lines: [{ quantity: '0.75' }], status: 'paid' })
    const cancel = await api.post(`/v1/sales/${sale.body.id}/cancel`, { reason: 'changed mind' })
    t.equal(cancel.statusCode, 200, cancel.raw)
    const restore = await env.admin('events').where({ type: 'inventory.restore_requested' }).whereRaw(`data->'object'->>'sale' = ?`, [sale.body.id]).first()
    t.match(restore.data.object.lines, [{ product_ref: 'BEANS', quantity: '0.75' }])
  })

  await t.test('bad quantities: 400 and nothing written', async (t) => {
    const before = await counts(env)
    for (const quantity of ['1.2345', '0', '0.000', '-1', 'abc', '1,5', 1.5, 0, '', '1e2', '10000000', '1000000.001', null]) {
      const inv = await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'x', quantity, unit_amount: 100 }] })
      t.equal(inv.statusCode, 400, `invoice ${JSON.stringify(quantity)}: ${inv.raw}`)
      t.equal(inv.body.error.code, 'validation_failed')
      const sale = await api.post('/v1/sales', { customer: cus, lines: [{ description: 'x', quantity, unit_amount: 100 }] })
      t.equal(sale.statusCode, 400, `sale ${JSON.stringify(quantity)}`)
    }
    t.same(await counts(env), before)
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { counts, customer, invoice } from './helpers/ledger'

t.test('metadata and external_id on invoices, payments, credit notes and sales', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const other = await env.tenant()
  const otherApi = env.api(other.key)
  const cus = await customer(api)
  const line = [{ description: 'Goods', quantity: 1, unit_amount: 1000 }]

  await t.test('accepted on create, returned on read and in lists', async (t) => {
    const inv = await api.post('/v1/invoices', { customer: cus, lines: line, external_id: 'POS-1', metadata: { till: '3', shift: 'am' } })
    t.equal(inv.statusCode, 201, inv.raw)
    t.match(inv.body, { external_id: 'POS-1', metadata: { till: '3', shift: 'am' } })
    t.same((await api.get(`/v1/invoices/${inv.body.id}`)).body.metadata, { till: '3', shift: 'am' })
    t.equal((await api.get(`/v1/invoices?customer=${cus}`)).body.data.find((i: any) => i.id === inv.body.id).external_id, 'POS-1')

    const plain = await invoice(api, cus, 500)
    t.equal(plain.external_id, null)
    t.same(plain.metadata, {})

    const pay = await api.post('/v1/payments', { customer: cus, amount: 300, method: 'cash', external_id: 'RCPT-9', metadata: { drawer: 'A' } })
    t.equal(pay.statusCode, 201, pay.raw)
    t.match(pay.body, { external_id: 'RCPT-9', metadata: { drawer: 'A' } })
    t.match((await api.get(`/v1/payments/${pay.body.id}`)).body, { external_id: 'RCPT-9', metadata: { drawer: 'A' } })
    t.equal((await api.get('/v1/payments')).body.data[0].external_id, 'RCPT-9')

    const cn = await api.post('/v1/credit-notes', { customer: cus, amount: 100, reason: 'goodwill', external_id: 'CN-EXT-1', metadata: { ticket: '77' } })
    t.equal(cn.statusCode, 201, cn.raw)
    t.match(cn.body, { external_id: 'CN-EXT-1', metadata: { ticket: '77' } })
    t.match((await api.get(`/v1/credit-notes/${cn.body.id}`)).body, { external_id: 'CN-EXT-1', metadata: { ticket: '77' } })

    const sale = await api.post('/v1/sales', { customer: cus, lines: line, payment: { method: 'cash', amount: 1000 }, external_id: 'RECEIPT-0001', metadata: { register: 'front' } })
    t.equal(sale.statusCode, 201, sale.raw)
    t.match(sale.body, { external_id: 'RECEIPT-0001', metadata: { register: 'front' }, invoice: { external_id: null }, payment: { external_id: null } })
    t.match((await api.get(`/v1/sales/${sale.body.id}`)).body, { external_id: 'RECEIPT-0001', metadata: { register: 'front' } })
    t.equal((await api.get('/v1/sales')).body.data[0].external_id, 'RECEIPT-0001')
  })

  await t.test('external_id is unique per tenant per document type', async (t) => {
    const before = await counts(env)
    const dup = await api.post('/v1/invoices', { customer: cus, lines: line, external_id: 'POS-1' })
    t.equal(dup.statusCode, 409, dup.raw)
    t.match(dup.body.error, { code: 'external_id_taken', type: 'conflict', param: 'external_id' })
    const dupSale = await api.post('/v1/sales', { customer: cus, lines: line, external_id: 'RECEIPT-0001' })
    t.equal(dupSale.body.error.code, 'external_id_taken')
    const dupPay = await api.post('/v1/payments', { customer: cus, amount: 1, method: 'cash', external_id: 'RCPT-9' })
    t.equal(dupPay.body.error.code, 'external_id_taken')
    t.same(await counts(env), before, 'nothing written')
    // Another document type, or another tenant, may use the same value.
    t.equal((await api.post('/v1/payments', { customer: cus, amount: 1, method: 'cash', external_id: 'POS-1' })).statusCode, 201)
    const otherCus = await customer(otherApi)
    t.equal((await otherApi.post('/v1/invoices', { customer: otherCus, lines: line, external_id: 'POS-1' })).statusCode, 201)
  })

  await t.test('concurrent requests with one external_id: one is posted', async (t) => {
    const results = await Promise.all([1, 2, 3].map(() => api.post('/v1/invoices', { customer: cus, lines: line, external_id: 'RACE-1' })))
    t.same(results.map((r) => r.statusCode).sort(), [201, 409, 409], results.map((r) => r.raw).join('\n'))
    t.equal((await env.admin('invoices').where({ external_id: 'RACE-1' })).length, 1)
  })

  await t.test('PATCH replaces the metadata of an invoice, payment, credit note or sale (audited)', async (t) => {
    const inv = await invoice(api, cus, 700)
    const res = await api.patch(`/v1/invoices/${inv.id}`, { metadata: { order: 'A-17' } })
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body.metadata, { order: 'A-17' })
    t.equal(res.body.total, 700)
    t.same((await api.get(`/v1/invoices/${inv.id}`)).body.metadata, { order: 'A-17' })
    const audit = await env.admin('audit_log').where({ action: 'invoice.metadata_updated', entity_id: inv.id })
    t.equal(audit.length, 1)
    t.match(audit[0], { before: { metadata: {} }, after: { metadata: { order: 'A-17' } } })
    t.same((await api.patch(`/v1/invoices/${inv.id}`, { metadata: {} })).body.metadata, {})

    const pay = (await api.post('/v1/payments', { customer: cus, amount: 5, method: 'cash' })).body
    t.same((await api.patch(`/v1/payments/${pay.id}`, { metadata: { k: 'v' } })).body.metadata, { k: 'v' })
    const cn = (await api.post('/v1/credit-notes', { customer: cus, amount: 5, reason: 'r' })).body
    t.same((await api.patch(`/v1/credit-notes/${cn.id}`, { metadata: { k: 'v' } })).body.metadata, { k: 'v' })
    const sale = (await api.post('/v1/sales', { customer: cus, lines: line })).body
    t.same((await api.patch(`/v1/sales/${sale.id}`, { metadata: { k: 'v' } })).body.metadata, { k: 'v' })

    // Bad input, a foreign tenant's id, a missing one, a read-only key.
    for (const body of [{}, { metadata: { k: 1 } }, { metadata: { k: 'v' }, total: 1 }, { external_id: 'x' }]) {
      const bad = await api.patch(`/v1/invoices/${inv.id}`, body)
      t.equal(bad.statusCode, 400, JSON.stringify(body))
    }
    const otherCus = await customer(otherApi)
    const foreign = await invoice(otherApi, otherCus, 100)
    t.equal((await api.patch(`/v1/invoices/${foreign.id}`, { metadata: { k: 'v' } })).statusCode, 404)
    t.same((await otherApi.get(`/v1/invoices/${foreign.id}`)).body.metadata, {})
    t.equal((await api.patch('/v1/payments/pay_0000000000aaaaaaaaaaaaaaaa', { metadata: {} })).statusCode, 404)
    const auditor = env.api((await env.key(tenant.key, 'auditor')).secret)
    t.equal((await auditor.patch(`/v1/invoices/${inv.id}`, { metadata: { k: 'v' } })).statusCode, 403)
  })

  await t.test('bad input: 400 and nothing written', async (t) => {
    const before = await counts(env)
    const tooMany = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, 'v']))
    for (const extra of [
      { metadata: tooMany },
      { metadata: { ['k'.repeat(41)]: 'v' } },
      { metadata: { '': 'v' } },
      { metadata: { k: 'v'.repeat(501) } },
      { metadata: { k: 1 } },
      { metadata: { k: { nested: 'x' } } },
      { metadata: ['a'] },
      { metadata: 'x' },
      { external_id: '' },
      { external_id: 'x'.repeat(201) },
      { external_id: 12 },
    ]) {
      for (const [path, body] of [
        ['/v1/invoices', { customer: cus, lines: line }],
        ['/v1/payments', { customer: cus, amount: 100, method: 'cash' }],
        ['/v1/credit-notes', { customer: cus, amount: 100, reason: 'r' }],
        ['/v1/sales', { customer: cus, lines: line }],
      ] as const) {
        const res = await api.post(path, { ...body, ...extra })
        t.equal(res.statusCode, 400, `${path} ${JSON.stringify(extra).slice(0, 60)}`)
        t.equal(res.body.error.code, 'validation_failed')
      }
    }
    const fifty = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, 'v'.repeat(500)]))
    t.same(await counts(env), before)
    t.equal((await api.post('/v1/invoices', { customer: cus, lines: line, metadata: fifty })).statusCode, 201, '50 keys of 500 chars are fine')
  })
})

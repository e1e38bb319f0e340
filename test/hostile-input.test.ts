import t from 'tap'
import { setupTestEnv, type TestEnv } from './helpers/app'
import { counts, customer } from './helpers/ledger'
import { newId } from '../core/kernel/ids'

// Issue 10, items 2 and 5: hostile bodies get a clear 4xx with a stable code, and write nothing.

async function allCounts(env: TestEnv) {
  const c = await counts(env)
  for (const table of ['customers', 'accounting_periods', 'idempotency_keys', 'customer_balances', 'refunds', 'api_keys', 'reconciliation_runs']) c[table] = Number((await env.admin(table).count('* as n'))[0].n)
  return c
}

t.test('hostile input', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const cus = await customer(api)
  const inv = await api.post('/v1/invoices', { customer: cus, issue_date: '2026-11-02', lines: [{ description: 'Widget', quantity: 1, unit_amount: 1000 }] })
  t.equal(inv.statusCode, 201, inv.raw)
  const pay = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'cash', received_date: '2026-11-03' })
  t.equal(pay.statusCode, 201, pay.raw)

  await t.test('a NUL character in any free-text field: 400 invalid_string with the field, nothing written', async (t) => {
    const nul = 'a\u0000b'
    const cases: [string, string, Record<string, unknown>, string][] = [
      ['post', '/v1/customers', { name: nul }, 'name'],
      ['post', '/v1/customers', { name: 'x', email: `x${nul}@example.com` }, 'email'],
      ['post', '/v1/customers', { name: 'x', metadata: { note: nul } }, 'metadata.note'],
      ['post', '/v1/customers', { name: 'x', metadata: { [nul]: 'x' } }, 'metadata'],
      ['patch', `/v1/customers/${cus}`, { name: nul }, 'name'],
      ['delete', `/v1/customers/${cus}`, { reason: nul }, 'reason'],
      ['post', '/v1/invoices', { customer: cus, lines: [{ description: nul, quantity: 1, unit_amount: 1 }] }, 'lines.0.description'],
      ['post', '/v1/invoices', { customer: cus, memo: nul, lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] }, 'memo'],
      ['post', '/v1/payments', { customer: cus, amount: 1, method: 'cash', reference: nul }, 'reference'],
      ['post', '/v1/adjustments', { customer: cus, amount: 100, reason: nul }, 'reason'],
      ['post', '/v1/credit-notes', { customer: cus, amount: 1, reason: nul }, 'reason'],
      ['post', '/v1/refunds', { customer: cus, amount: 1, method: 'cash', reason: nul }, 'reason'],
      ['post', '/v1/write-offs', { invoice: inv.body.id, amount: 1, reason: nul }, 'reason'],
      ['post', `/v1/invoices/${inv.body.id}/void`, { reason: nul }, 'reason'],
      ['post', `/v1/payments/${pay.body.id}/void`, { reason: nul }, 'reason'],
      ['post', `/v1/transactions/${pay.body.transaction ?? 'txn_x'}/reverse`, { reason: nul }, 'reason'],
      ['post', '/v1/sales', { customer: cus, lines: [{ description: nul, quantity: 1, unit_amount: 1 }] }, 'lines.0.description'],
      ['post', '/v1/api-keys', { name: nul, role: 'cashier' }, 'name'],
    ]
    const before = await allCounts(env)
    for (const [method, url, body, param] of cases) {
      const res = await (api as any)[method](url, body)
      t.equal(res.statusCode, 400, `${method} ${url} ${param}: ${res.raw}`)
      t.match(res.body, { error: { type: 'invalid_request', code: 'invalid_string', param } }, `${method} ${url}`)
    }
    const q = await api.get('/v1/customers?q=a%00b')
    t.equal(q.statusCode, 400, q.raw)
    t.match(q.body, { error: { code: 'invalid_string', param: 'q' } })
    t.same(await allCounts(env), before, 'nothing written')
  })

  await t.test('lone UTF-16 surrogates in a string: 400 invalid_string, nothing written', async (t) => {
    const before = await allCounts(env)
    for (const [payload, param] of [
      ['{"name":"x","metadata":{"k":"\\ud800"}}', 'metadata.k'],
      ['{"name":"x","metadata":{"k":"a\\udc00b"}}', 'metadata.k'],
      ['{"name":"x","metadata":{"\\udbff":"k"}}', 'metadata'],
      ['{"name":"\\ud800"}', 'name'],
    ]) {
      const res = await api.post('/v1/customers', payload, { 'content-type': 'application/json' })
      t.equal(res.statusCode, 400, res.raw)
      t.match(res.body, { error: { code: 'invalid_string', param } })
    }
    const res = await api.post('/v1/adjustments', `{"customer":"${cus}","amount":5,"reason":"\\udfff"}`, { 'content-type': 'application/json' })
    t.match(res.body, { error: { code: 'invalid_string', param: 'reason' } })
    t.same(await allCounts(env), before, 'nothing written')
    // A well-formed pair is fine.
    const ok = await api.post('/v1/customers', '{"name":"x \\ud83d\\ude00","metadata":{"k":"\\ud83d\\ude00"}}', { 'content-type': 'application/json' })
    t.equal(ok.statusCode, 201, ok.raw)
  })

  await t.test('accounting dates outside 1900-01-01..9989-12-31: 400 validation_failed with the field', async (t) => {
    const before = await allCounts(env)
    for (const date of ['9999-12-02', '9999-12-31', '9990-01-01', '1899-12-31', '0001-01-01']) {
      const adj = await api.post('/v1/adjustments', { customer: cus, amount: 100, reason: 'Fee', posting_date: date })
      t.equal(adj.statusCode, 400, `${date}: ${adj.raw}`)
      t.match(adj.body, { error: { code: 'validation_failed', param: 'posting_date' } })
      const invoice = await api.post('/v1/invoices', { customer: cus, issue_date: date, lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] })
      t.match(invoice.body, { error: { code: 'validation_failed', param: 'issue_date' } }, date)
      const period = await api.post('/v1/periods', { start_date: date, end_date: date, type: 'monthly' })
      t.match(period.body, { error: { code: 'validation_failed', param: 'start_date' } }, date)
    }
    t.same(await allCounts(env), before, 'nothing written')
    // The last accepted day, with the longest terms, still has a due date.
    const far = await customer(api, { payment_terms_days: 3650 })
    const adj = await api.post('/v1/adjustments', { customer: far, amount: 100, reason: 'Fee', posting_date: '9989-12-31' })
    t.equal(adj.statusCode, 201, adj.raw)
    const early = await api.post('/v1/adjustments', { customer: far, amount: 100, reason: 'Fee', posting_date: '1900-01-01' })
    t.equal(early.statusCode, 201, early.raw)
  })

  await t.test('JSON nested deeper than the limit: 400 nesting_too_deep, also with an Idempotency-Key', async (t) => {
    const period = await api.post('/v1/periods', { start_date: '2026-01-01', end_date: '2026-01-31', type: 'monthly' })
    t.equal(period.statusCode, 201, period.raw)
    const deep = '['.repeat(5000) + ']'.repeat(5000)
    const deepObj = '{"a":'.repeat(5000) + '1' + '}'.repeat(5000)
    const before = await allCounts(env)
    for (const action of ['close', 'lock']) {
      for (const body of [deep, deepObj]) {
        const res = await api.post(`/v1/periods/${period.body.id}/${action}`, body, { 'content-type': 'application/json', 'idempotency-key': `deep-${action}-${body.length}` })
        t.equal(res.statusCode, 400, res.raw)
        t.match(res.body, { error: { type: 'invalid_request', code: 'nesting_too_deep' } })
      }
    }
    const meta = await api.post('/v1/customers', `{"name":"x","metadata":${deepObj}}`, { 'content-type': 'application/json', 'idempotency-key': 'deep-cus' })
    t.match(meta.body, { error: { code: 'nesting_too_deep' } })
    t.same(await allCounts(env), before, 'nothing written')
    t.equal((await api.get(`/v1/periods/${period.body.id}`)).body.status, 'open')
  })

  await t.test('a null body is refused with 400', async (t) => {
    const period = await api.post('/v1/periods', { start_date: '2026-02-01', end_date: '2026-02-28', type: 'monthly' })
    const before = await allCounts(env)
    for (const [method, url] of [
      ['patch', `/v1/customers/${cus}`],
      ['post', `/v1/customers/${cus}/restore`],
      ['post', `/v1/periods/${period.body.id}/close`],
      ['post', '/v1/customers'],
      ['post', '/v1/reconciliations'],
    ]) {
      const res = await (api as any)[method](url, 'null', { 'content-type': 'application/json' })
      t.equal(res.statusCode, 400, `${method} ${url}: ${res.raw}`)
      t.match(res.body, { error: { type: 'invalid_request', code: 'validation_failed' } })
    }
    t.same(await allCounts(env), before, 'nothing written')
    t.equal((await api.get(`/v1/periods/${period.body.id}`)).body.status, 'open')
  })

  await t.test('assigned_to must name an active API key of the tenant', async (t) => {
    const other = await env.tenant()
    const foreign = await env.key(other.key, 'sales_rep')
    const rep = await env.key(tenant.key, 'sales_rep')
    const gone = await env.key(tenant.key, 'sales_rep')
    t.equal((await api.delete(`/v1/api-keys/${gone.id}`)).statusCode, 200)
    const before = await allCounts(env)
    for (const id of [foreign.id, newId('key'), gone.id]) {
      const created = await api.post('/v1/customers', { name: 'Assigned', assigned_to: id })
      t.equal(created.statusCode, 404, created.raw)
      t.match(created.body, { error: { type: 'not_found', code: 'resource_missing', param: 'assigned_to' } })
      const patched = await api.patch(`/v1/customers/${cus}`, { assigned_to: id })
      t.equal(patched.statusCode, 404, patched.raw)
      t.match(patched.body, { error: { code: 'resource_missing', param: 'assigned_to' } })
    }
    t.same(await allCounts(env), before, 'nothing written')
    const ok = await api.post('/v1/customers', { name: 'Assigned', assigned_to: rep.id })
    t.equal(ok.statusCode, 201, ok.raw)
    t.equal(ok.body.assigned_to, rep.id)
    const patched = await api.patch(`/v1/customers/${cus}`, { assigned_to: rep.id })
    t.equal(patched.statusCode, 200, patched.raw)
    t.equal((await api.patch(`/v1/customers/${cus}`, { assigned_to: null })).statusCode, 200)
    t.equal((await env.api(rep.secret).get(`/v1/customers/${ok.body.id}`)).statusCode, 200, 'the rep sees its customer')
  })
})

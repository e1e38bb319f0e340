import t from 'tap'
import { createHash } from 'node:crypto'
import { setupTestEnv } from './helpers/app'
import { balance, balanced, counts, customer, intact, invoice, payment } from './helpers/ledger'

/** A multipart/form-data body with one part. */
function multipartBody(field: string, filename: string, content: Buffer, type = 'application/octet-stream') {
  const boundary = `----evidence${Math.random().toString(16).slice(2)}`
  const head = Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${field}"; filename="${filename}"\r\ncontent-type: ${type}\r\n\r\n`)
  return { payload: Buffer.concat([head, content, Buffer.from(`\r\n--${boundary}--\r\n`)]), contentType: `multipart/form-data; boundary=${boundary}` }
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n')
const PNG = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(32, 1)])

t.test('disputes and chargebacks', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const upload = (disputeId: string, filename: string, content: Buffer, key = tenant.key, field = 'file') => {
    const { payload, contentType } = multipartBody(field, filename, content)
    return env.app.inject({ method: 'POST', url: `/v1/disputes/${disputeId}/evidence`, payload, headers: { authorization: `Bearer ${key}`, 'content-type': contentType } })
  }
  const invoiceOf = async (id: string) => (await api.get(`/v1/invoices/${id}`)).body
  const paymentOf = async (id: string) => (await api.get(`/v1/payments/${id}`)).body

  // Ada: two invoices settled by one payment, the older first.
  const ada = await customer(api, { name: 'Ada' })
  const inv1 = await invoice(api, ada, 600)
  const inv2 = await invoice(api, ada, 400)
  const pay = await payment(api, ada, 1000, {
    method: 'card',
    allocations: [
      { invoice: inv1.id, amount: 600 },
      { invoice: inv2.id, amount: 400 },
    ],
  })
  t.same(await balance(api, ada), { pending_balance: 0, advance_balance: 0, current_balance: 0 })

  let chargeback: any
  await t.test('a chargeback reopens what the payment settled, newest allocation first, and takes the cash back out', async (t) => {
    const res = await api.post('/v1/disputes', { type: 'chargeback', payment: pay.id, amount: 500, reason: 'Cardholder says not received', reference: 'CB-2026-001' })
    t.equal(res.statusCode, 201, res.raw)
    chargeback = res.body
    t.match(chargeback, {
      id: /^dsp_[0-9a-z]{26}$/,
      object: 'dispute',
      type: 'chargeback',
      status: 'open',
      customer: ada,
      payment: pay.id,
      invoice: null,
      currency: 'usd',
      amount: 500,
      base_amount: 500,
      reference: 'CB-2026-001',
      chargeback_entry: /^je_/,
      outcome_entry: null,
      evidence: [],
    })
    t.same(chargeback.reopened, [
      { invoice: inv2.id, amount: 400 },
      { invoice: inv1.id, amount: 100 },
    ])
    t.same(await balance(api, ada), { pending_balance: 500, advance_balance: 0, current_balance: 500 }, 'owed again')
    t.match(await invoiceOf(inv2.id), { outstanding: 400, status: 'open' })
    t.match(await invoiceOf(inv1.id), { outstanding: 100, status: 'partially_paid' })
    t.match(await paymentOf(pay.id), { unapplied_amount: 0 })
    t.same(await balanced(t, env, chargeback.chargeback_entry), [
      ['2100', 500, 0],
      ['1010', 0, 500],
    ], 'Dr customer advances / Cr bank (a card payment)')
    const txns = (await api.get(`/v1/customers/${ada}/transactions`)).body.data
    t.match(txns[0], { type: 'chargeback', amount: 500 })
    await intact(t, env, tenant.uuid)
  })

  await t.test('refusals write nothing', async (t) => {
    const before = await counts(env)
    const cases: [Record<string, unknown>, number, string, string?][] = [
      [{ type: 'chargeback', payment: pay.id, amount: 501, reason: 'x' }, 422, 'dispute_exceeds_amount', 'amount'],
      [{ type: 'chargeback', invoice: inv1.id, amount: 10, reason: 'x' }, 400, 'validation_failed', 'payment'],
      [{ type: 'billing_error', amount: 10, reason: 'x' }, 400, 'validation_failed', 'payment'],
      [{ type: 'billing_error', payment: pay.id, invoice: inv1.id, amount: 10, reason: 'x' }, 400, 'validation_failed', 'invoice'],
      [{ type: 'billing_error', invoice: inv1.id, amount: 601, reason: 'x' }, 422, 'dispute_exceeds_amount', 'amount'],
      [{ type: 'chargeback', payment: 'pay_0000000000aaaaaaaaaaaaaaaa', amount: 10, reason: 'x' }, 404, 'resource_missing', 'payment'],
      [{ type: 'chargeback', payment: pay.id, amount: 1.5, reason: 'x' }, 400, 'validation_failed', 'amount'],
      [{ type: 'fraud', payment: pay.id, amount: 10, reason: 'x' }, 400, 'validation_failed', 'type'],
      [{ type: 'chargeback', payment: pay.id, amount: 10 }, 400, 'validation_failed', 'reason'],
    ]
    for (const [body, status, code, param] of cases) {
      const res = await api.post('/v1/disputes', body)
      t.equal(res.statusCode, status, `${JSON.stringify(body)} → ${res.raw}`)
      t.equal(res.body.error?.code, code)
      if (param) t.equal(res.body.error?.param, param)
    }
    t.same(await counts(env), before)
  })

  await t.test('a chargeback is first taken from unapplied credit', async (t) => {
    const bo = await customer(api, { name: 'Bo' })
    const inv = await invoice(api, bo, 300)
    const p = await payment(api, bo, 1000, { allocations: [{ invoice: inv.id, amount: 300 }] })
    const res = await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 700, reason: 'duplicate charge' })
    t.equal(res.statusCode, 201, res.raw)
    t.same(res.body.reopened, [], 'nothing reopened')
    t.match(await invoiceOf(inv.id), { outstanding: 0, status: 'paid' })
    t.same(await balance(api, bo), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    const more = await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 300, reason: 'the rest' })
    t.equal(more.statusCode, 201, more.raw)
    t.same(more.body.reopened, [{ invoice: inv.id, amount: 300 }])
    const over = await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 1, reason: 'too much' })
    t.equal(over.statusCode, 422)
    t.equal(over.body.error.code, 'dispute_exceeds_amount')
    t.same(await balance(api, bo), { pending_balance: 300, advance_balance: 0, current_balance: 300 })
    await intact(t, env, tenant.uuid)
  })

  await t.test('evidence: checked by content, stored with its SHA-256, downloadable', async (t) => {
    const pdf = await upload(chargeback.id, '../../etc/receipt.pdf', PDF)
    t.equal(pdf.statusCode, 201, pdf.body)
    const ev = JSON.parse(pdf.body)
    t.match(ev, { id: /^dev_/, object: 'dispute_evidence', dispute: chargeback.id, filename: 'receipt.pdf', size: PDF.length, content_type: 'application/pdf' })
    t.equal(ev.sha256, createHash('sha256').update(PDF).digest('hex'))
    const again = await upload(chargeback.id, 'copy.pdf', PDF)
    t.equal(again.statusCode, 200, 'the same file again is the same evidence')
    t.equal(JSON.parse(again.body).id, ev.id)
    t.equal((await upload(chargeback.id, 'photo.png', PNG)).statusCode, 201)
    t.equal((await upload(chargeback.id, 'notes.txt', Buffer.from('Delivered 2026-11-02, signed by J. Doe — Łódź\n'))).statusCode, 201)

    const exe = await upload(chargeback.id, 'invoice.pdf', Buffer.from([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00]))
    t.equal(exe.statusCode, 415, 'a named .pdf that is not one')
    t.equal(JSON.parse(exe.body).error.code, 'evidence_type_not_allowed')
    const big = await upload(chargeback.id, 'big.txt', Buffer.alloc(10 * 1024 * 1024 + 1, 0x61))
    t.equal(big.statusCode, 413)
    t.equal(JSON.parse(big.body).error.code, 'body_too_large')
    const wrongField = await upload(chargeback.id, 'a.pdf', PDF, tenant.key, 'document')
    t.equal(wrongField.statusCode, 400)
    const json = await api.post(`/v1/disputes/${chargeback.id}/evidence`, { file: 'x' })
    t.equal(json.statusCode, 415)
    t.equal(json.body.error.code, 'unsupported_media_type')

    const down = await env.app.inject({ method: 'GET', url: `/v1/disputes/${chargeback.id}/evidence/${ev.id}`, headers: { authorization: `Bearer ${tenant.key}` } })
    t.equal(down.statusCode, 200)
    t.equal(down.headers['content-type'], 'application/pdf')
    t.ok(down.rawPayload.equals(PDF), 'the bytes as uploaded')
    const view = (await api.get(`/v1/disputes/${chargeback.id}`)).body
    t.same(view.evidence.map((e: any) => e.content_type), ['application/pdf', 'image/png', 'text/plain'])
  })

  await t.test('uploads: a truncated body and concurrent uploads write nothing half', async (t) => {
    const { payload, contentType } = multipartBody('file', 'cut.pdf', Buffer.concat([PDF, Buffer.alloc(4096, 0x20)]))
    const before = await env.admin('dispute_evidence').where({ tenant_id: tenant.uuid }).count({ n: '*' }).first()
    const cut = await env.app.inject({ method: 'POST', url: `/v1/disputes/${chargeback.id}/evidence`, payload: payload.subarray(0, payload.length - 60), headers: { authorization: `Bearer ${tenant.key}`, 'content-type': contentType } })
    t.equal(cut.statusCode, 400, cut.body)
    t.equal(JSON.parse(cut.body).error.code, 'validation_failed')
    t.same(await env.admin('dispute_evidence').where({ tenant_id: tenant.uuid }).count({ n: '*' }).first(), before, 'nothing stored')

    const same = Buffer.from('Same statement uploaded by two clerks at once\n')
    const racing = await Promise.all(Array.from({ length: 6 }, () => upload(chargeback.id, 'same.txt', same)))
    t.same(racing.map((r) => r.statusCode).sort(), [200, 200, 200, 200, 200, 201], 'one stored, the others get it back')
    t.equal(new Set(racing.map((r) => JSON.parse(r.body).id)).size, 1)
    const distinct = await Promise.all(Array.from({ length: 4 }, (_, i) => upload(chargeback.id, `page-${i}.txt`, Buffer.from(`page ${i} of the delivery note\n`))))
    t.same(distinct.map((r) => r.statusCode), [201, 201, 201, 201])
  })

  await t.test('submit, then a won chargeback gives the money back and settles again what it reopened', async (t) => {
    const sub = await api.post(`/v1/disputes/${chargeback.id}/submit`)
    t.equal(sub.statusCode, 200, sub.raw)
    t.match(sub.body, { status: 'under_review', submitted: /^\d{4}-/ })
    const twice = await api.post(`/v1/disputes/${chargeback.id}/submit`)
    t.equal(twice.statusCode, 409)
    t.equal(twice.body.error.code, 'dispute_closed')
    const wrong = await api.post(`/v1/disputes/${chargeback.id}/resolve`, { outcome: 'accepted', resolution: 'x' })
    t.equal(wrong.statusCode, 400, 'a chargeback is won or lost')
    t.equal(wrong.body.error.param, 'outcome')

    const won = await api.post(`/v1/disputes/${chargeback.id}/resolve`, { outcome: 'won', resolution: 'Proof of delivery accepted by the network' })
    t.equal(won.statusCode, 200, won.raw)
    t.match(won.body, { status: 'won', resolution: 'Proof of delivery accepted by the network', outcome_entry: /^je_/, resolved: /^\d{4}-/ })
    t.same(await balanced(t, env, won.body.outcome_entry), [
      ['1010', 500, 0],
      ['2100', 0, 500],
    ])
    t.same(await balance(api, ada), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    t.match(await invoiceOf(inv1.id), { outstanding: 0, status: 'paid' })
    t.match(await invoiceOf(inv2.id), { outstanding: 0, status: 'paid' })
    const again = await api.post(`/v1/disputes/${chargeback.id}/resolve`, { outcome: 'lost', resolution: 'x' })
    t.equal(again.statusCode, 409)
    t.equal(again.body.error.code, 'dispute_closed')
    t.equal((await upload(chargeback.id, 'late.pdf', Buffer.concat([PDF, Buffer.from('x')]))).statusCode, 409, 'no evidence after the decision')
    await intact(t, env, tenant.uuid)
  })

  await t.test('a lost chargeback stands; the payment can be charged back again only for what it still holds', async (t) => {
    const cy = await customer(api, { name: 'Cy' })
    const inv = await invoice(api, cy, 800)
    const p = await payment(api, cy, 800, { allocations: [{ invoice: inv.id, amount: 800 }] })
    const cb = (await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 800, reason: 'fraud claim' })).body
    const before = await counts(env)
    const lost = await api.post(`/v1/disputes/${cb.id}/resolve`, { outcome: 'lost', resolution: 'Network sided with the cardholder' })
    t.equal(lost.statusCode, 200, lost.raw)
    t.match(lost.body, { status: 'lost', outcome_entry: null })
    const after = await counts(env)
    t.equal(after.journal_entries, before.journal_entries, 'nothing posted')
    t.same(await balance(api, cy), { pending_balance: 800, advance_balance: 0, current_balance: 800 })
    t.equal((await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 1, reason: 'again' })).body.error.code, 'dispute_exceeds_amount')
  })

  await t.test('an accepted billing error issues a credit note against the invoice; a rejected one changes nothing', async (t) => {
    const dee = await customer(api, { name: 'Dee' })
    const inv = await invoice(api, dee, 1000)
    const d = (await api.post('/v1/disputes', { type: 'billing_error', invoice: inv.id, amount: 150, reason: 'Charged for 3, got 2' })).body
    t.match(d, { status: 'open', invoice: inv.id, chargeback_entry: null, reopened: [] })
    t.same(await balance(api, dee), { pending_balance: 1000, advance_balance: 0, current_balance: 1000 }, 'opening a billing error posts nothing')
    const ok = await api.post(`/v1/disputes/${d.id}/resolve`, { outcome: 'accepted', resolution: 'One unit was not delivered' })
    t.equal(ok.statusCode, 200, ok.raw)
    t.match(ok.body, { status: 'accepted', outcome_entry: /^je_/, refund: null })
    t.match(await invoiceOf(inv.id), { outstanding: 850 })
    const notes = (await api.get(`/v1/credit-notes?customer=${dee}`)).body.data
    t.match(notes, [{ invoice: inv.id, amount: 150, reason: /accepted/ }])

    const d2 = (await api.post('/v1/disputes', { type: 'other', invoice: inv.id, amount: 50, reason: 'x' })).body
    const rejected = await api.post(`/v1/disputes/${d2.id}/resolve`, { outcome: 'rejected', resolution: 'Delivered as invoiced' })
    t.match(rejected.body, { status: 'rejected', outcome_entry: null })
    t.match(await invoiceOf(inv.id), { outstanding: 850 })
  })

  await t.test('an accepted refund request is credited and refunded; over the refund threshold the refund waits for approval', async (t) => {
    const eve = await customer(api, { name: 'Eve' })
    const inv = await invoice(api, eve, 500)
    const p = await payment(api, eve, 500, { allocations: [{ invoice: inv.id, amount: 500 }] })
    const d = (await api.post('/v1/disputes', { type: 'refund_request', payment: p.id, amount: 200, reason: 'Returned one item' })).body
    const ok = await api.post(`/v1/disputes/${d.id}/resolve`, { outcome: 'accepted', resolution: 'Item back in stock' })
    t.equal(ok.statusCode, 200, ok.raw)
    t.match(ok.body, { status: 'accepted', refund: /^ref_/ })
    t.same(await balance(api, eve), { pending_balance: 0, advance_balance: 0, current_balance: 0 }, 'credited, then paid out')

    t.equal((await api.patch('/v1/settings', { approvals: { refund_over: 100 } })).statusCode, 200)
    const d2 = (await api.post('/v1/disputes', { type: 'refund_request', payment: p.id, amount: 150, reason: 'Returned another' })).body
    const held = await api.post(`/v1/disputes/${d2.id}/resolve`, { outcome: 'accepted', resolution: 'ok' })
    t.match(held.body, { status: 'accepted', refund: /^apr_/ })
    t.same(await balance(api, eve), { pending_balance: 0, advance_balance: 150, current_balance: -150 }, 'the credit waits as advance')
    t.equal((await api.get(`/v1/approval-requests/${held.body.refund}`)).body.action, 'refund.create')
    t.equal((await api.patch('/v1/settings', { approvals: { refund_over: null } })).statusCode, 200)
    await intact(t, env, tenant.uuid)
  })

  await t.test('an accepted refund request whose payment method was removed since asks for refund_method, writing nothing', async (t) => {
    const gus = await customer(api, { name: 'Gus' })
    const inv = await invoice(api, gus, 400)
    const settings = (await api.get('/v1/settings')).body.payment_methods
    t.equal((await api.patch('/v1/settings', { payment_methods: [...settings, { code: 'voucher', name: 'Voucher', account_role: 'clearing' }] })).statusCode, 200)
    const p = await payment(api, gus, 400, { method: 'voucher', allocations: [{ invoice: inv.id, amount: 400 }] })
    const d = (await api.post('/v1/disputes', { type: 'refund_request', payment: p.id, amount: 100, reason: 'Damaged' })).body
    t.equal((await api.patch('/v1/settings', { payment_methods: settings })).statusCode, 200, 'the voucher method is removed')

    const refused = await api.post(`/v1/disputes/${d.id}/resolve`, { outcome: 'accepted', resolution: 'Refund it' })
    t.equal(refused.statusCode, 400, refused.raw)
    t.match(refused.body.error, { code: 'payment_method_unknown', param: 'refund_method', message: /voucher/ })
    t.equal((await api.get(`/v1/disputes/${d.id}`)).body.status, 'open', 'nothing written')
    t.same(await balance(api, gus), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    const unknown = await api.post(`/v1/disputes/${d.id}/resolve`, { outcome: 'accepted', resolution: 'Refund it', refund_method: 'voucher' })
    t.match(unknown.body.error, { code: 'payment_method_unknown', param: 'refund_method' })

    const ok = await api.post(`/v1/disputes/${d.id}/resolve`, { outcome: 'accepted', resolution: 'Refund it', refund_method: 'bank_transfer' })
    t.equal(ok.statusCode, 200, ok.raw)
    t.match(ok.body, { status: 'accepted', refund: /^ref_/ })
    t.equal((await api.get(`/v1/refunds/${ok.body.refund}`)).body.method, 'bank_transfer')
    t.same(await balance(api, gus), { pending_balance: 0, advance_balance: 0, current_balance: 0 }, 'credited, then paid out')

    const other = (await api.post('/v1/disputes', { type: 'billing_error', invoice: inv.id, amount: 50, reason: 'Overcharged' })).body
    const misplaced = await api.post(`/v1/disputes/${other.id}/resolve`, { outcome: 'rejected', resolution: 'No', refund_method: 'cash' })
    t.equal(misplaced.statusCode, 400, misplaced.raw)
    t.match(misplaced.body.error, { code: 'validation_failed', param: 'refund_method' })
    await intact(t, env, tenant.uuid)
  })

  await t.test('concurrent chargebacks of one payment never take more than it holds; a replayed key posts once', async (t) => {
    const fay = await customer(api, { name: 'Fay' })
    const inv = await invoice(api, fay, 1000)
    const p = await payment(api, fay, 1000, { allocations: [{ invoice: inv.id, amount: 1000 }] })
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 300, reason: `race ${i}` })))
    const codes = results.map((r) => r.statusCode).sort()
    t.same(codes, [201, 201, 201, 422, 422, 422, 422, 422], 'three fit in 1000, five are refused')
    t.same(await balance(api, fay), { pending_balance: 900, advance_balance: 0, current_balance: 900 })
    const key = { 'idempotency-key': `cb-${p.id}` }
    const first = await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 100, reason: 'last' }, key)
    const replay = await api.post('/v1/disputes', { type: 'chargeback', payment: p.id, amount: 100, reason: 'last' }, key)
    t.equal(first.statusCode, 201, first.raw)
    t.equal(replay.statusCode, 201)
    t.equal(replay.body.id, first.body.id, 'the same dispute')
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.same(await balance(api, fay), { pending_balance: 1000, advance_balance: 0, current_balance: 1000 })
    await intact(t, env, tenant.uuid)
  })

  await t.test('lists, events, permissions and tenancy', async (t) => {
    const list = (await api.get(`/v1/disputes?customer=${ada}`)).body
    t.same(list.data.map((d: any) => d.id), [chargeback.id])
    t.ok((await api.get('/v1/disputes?status=open')).body.data.every((d: any) => d.status === 'open'))
    const types = (await env.admin('events').where({ tenant_id: tenant.uuid }).where('type', 'like', 'dispute.%').orderBy('id')).map((e: any) => e.type)
    t.ok(types.includes('dispute.created') && types.includes('dispute.submitted') && types.includes('dispute.resolved'), types.join(','))
    const created = await env.admin('events').where({ tenant_id: tenant.uuid, type: 'dispute.created' }).orderBy('id').first()
    t.match(created.data.object, { id: chargeback.id, customer: ada, status: 'open' })

    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).get('/v1/disputes')).statusCode, 403)
    t.equal((await env.api(cashier.secret).post('/v1/disputes', { type: 'chargeback', payment: pay.id, amount: 1, reason: 'x' })).statusCode, 403)
    const auditor = await env.key(tenant.key, 'auditor')
    t.equal((await env.api(auditor.secret).get(`/v1/disputes/${chargeback.id}`)).statusCode, 200)
    t.equal((await env.api(auditor.secret).post(`/v1/disputes/${chargeback.id}/submit`)).statusCode, 403)
    const accountant = await env.key(tenant.key, 'accountant')
    t.equal((await env.api(accountant.secret).get(`/v1/disputes/${chargeback.id}`)).statusCode, 200)

    const rep = (await api.post('/v1/api-keys', { name: 'rep', role: 'sales_rep', user: 'sam' })).body
    t.equal((await env.api(rep.secret).get(`/v1/disputes/${chargeback.id}`)).statusCode, 403, 'a sales rep has no dispute permission by default')
    const role = (await api.post('/v1/roles', { name: 'rep_disputes', permissions: ['customers.basic.view', 'disputes.view', 'disputes.manage'], own_customers_only: true })).body
    const repKey = (await api.post('/v1/api-keys', { name: 'rep2', role: role.id ?? 'rep_disputes', user: 'sam' })).body
    if (repKey.secret) {
      t.equal((await env.api(repKey.secret).get(`/v1/disputes/${chargeback.id}`)).statusCode, 404, "another rep's customer's dispute does not exist for it")
      t.same((await env.api(repKey.secret).get('/v1/disputes')).body.data, [], 'lists only its own customers’ disputes')
      const down = await env.app.inject({ method: 'GET', url: `/v1/disputes/${chargeback.id}/evidence/${chargeback.id.replace('dsp_', 'dev_')}`, headers: { authorization: `Bearer ${repKey.secret}` } })
      t.equal(down.statusCode, 404)
    } else t.fail(`custom role key: ${JSON.stringify(repKey)}`)

    const other = await env.tenant({ name: 'Other' })
    t.equal((await env.api(other.key).get(`/v1/disputes/${chargeback.id}`)).statusCode, 404)
    t.equal((await env.api(other.key).post('/v1/disputes', { type: 'chargeback', payment: pay.id, amount: 1, reason: 'x' })).statusCode, 404)
    t.equal((await upload(chargeback.id, 'x.pdf', Buffer.concat([PDF, Buffer.from('other')]), other.key)).statusCode, 404)
  })

  await t.test('endpoints subscribe to dispute events; anonymizing the customer erases its evidence files', async (t) => {
    const ep = await api.post('/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/disputes', events: ['dispute.created', 'dispute.submitted', 'dispute.resolved', 'customer.merged', 'customer.anonymized'] })
    t.equal(ep.statusCode, 201, ep.raw)
    const files = await env.admin('dispute_evidence').where({ tenant_id: tenant.uuid, customer_id: ada }).count({ n: '*' }).first()
    t.ok(Number(files!.n) >= 3, 'the evidence is there before')
    const res = await api.post(`/v1/customers/${ada}/anonymize`, { reason: 'GDPR erasure request' })
    t.equal(res.statusCode, 200, res.raw)
    t.same(await env.admin('dispute_evidence').where({ tenant_id: tenant.uuid, customer_id: ada }).select('id'), [], 'no file left')
    const view = (await api.get(`/v1/disputes/${chargeback.id}`)).body
    t.match(view, { status: 'won', amount: 500, evidence: [] }, 'the dispute and its amounts stay')
    const audit = await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'customer.anonymized', entity_id: ada }).first()
    t.ok(audit, 'audited')
  })

  await t.test('the ledger is intact', async (t) => intact(t, env, tenant.uuid))
})

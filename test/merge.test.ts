import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, counts, customer, intact, invoice, payment } from './helpers/ledger'

t.test('customer merge and duplicates', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const get = async (url: string) => {
    const res = await api.get(url)
    if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode} ${res.raw}`)
    return res.body
  }

  // The source: two open invoices (one partly paid), an unapplied payment and an unapplied credit note.
  const src = await customer(api, { name: 'Ada Lovelace', email: 'ADA@example.com', phone: '+44 20 7946 0001' })
  const inv1 = await invoice(api, src, 1000)
  const inv2 = await invoice(api, src, 500)
  await payment(api, src, 200, { allocations: [{ invoice: inv2.id, amount: 200 }] })
  const p2 = await payment(api, src, 300)
  const cn = (await api.post('/v1/credit-notes', { customer: src, amount: 100, reason: 'goodwill' })).body
  // The target has its own invoice.
  const dst = await customer(api, { name: 'Ada  Lovelace Ltd', email: 'ada@example.com', phone: '+44 (20) 7946-0001' })
  const own = await invoice(api, dst, 700)
  t.same(await balance(api, src), { pending_balance: 1300, advance_balance: 400, current_balance: 900 })

  await t.test('duplicates: pairs by e-mail, phone, tax id or name, scored', async (t) => {
    const lone = await customer(api, { name: 'Someone Else' })
    const twinA = await customer(api, { name: 'Bäckerei Müller', tax_id: 'DE 123 456 789' })
    const twinB = await customer(api, { name: 'Backerei Muller', tax_id: 'de123456789' })
    const dup = await get('/v1/customers/duplicates')
    const pair = (a: string, b: string) => dup.data.find((d: any) => d.customers.includes(a) && d.customers.includes(b))
    t.match(pair(src, dst), { reasons: ['same_email', 'same_phone', 'similar_name'], score: 100 })
    const jon = await customer(api, { name: 'Jon Smith' })
    const john = await customer(api, { name: 'John Smith' })
    t.match(pair(jon, john) ?? (await get('/v1/customers/duplicates')).data.find((d: any) => d.customers.includes(jon) && d.customers.includes(john)), { reasons: ['similar_name'], score: 30 })
    t.match(pair(twinA, twinB), { reasons: ['same_tax_id'], score: 40 })
    t.notOk(dup.data.some((d: any) => d.customers.includes(lone)), 'a customer like no other is in no pair')
    t.ok(dup.data.every((d: any, i: number) => i === 0 || dup.data[i - 1].score >= d.score), 'best first')
  })

  let merged: any
  await t.test('merge: open items and balances move by one transfer entry; the source ends merged', async (t) => {
    const before = await get(`/v1/customers/${dst}`)
    const res = await api.post(`/v1/customers/${src}/merge`, { into: dst, reason: 'Same person, two accounts' })
    t.equal(res.statusCode, 200, res.raw)
    merged = res.body
    t.match(merged, { id: /^mrg_[0-9a-z]{26}$/, object: 'customer_merge', source: src, target: dst, journal_entry: /^je_/, moved: { pending_balance: 1300, advance_balance: 400 } })
    t.same(merged.moved.invoices.map((m: any) => [m.from, m.amount]), [[inv1.id, 1000], [inv2.id, 300]].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
    t.same(merged.moved.credits.map((m: any) => [m.from, m.amount]).sort(), [[p2.id, 300], [cn.id, 100]].sort())

    t.same(await balance(api, src), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
    t.same(await balance(api, dst), { pending_balance: 2000, advance_balance: 400, current_balance: 1600 })
    t.match(await get(`/v1/customers/${src}`), { status: 'merged', merged_into: dst })
    t.equal(before.merged_into, null)

    // The source's documents are as they were, settled by the transfer; the target carries them.
    t.match(await get(`/v1/invoices/${inv1.id}`), { outstanding: 0, status: 'paid', customer: src })
    t.match(await get(`/v1/payments/${p2.id}`), { unapplied_amount: 0, customer: src })
    const carried = await get(`/v1/invoices?customer=${dst}&status=open`)
    const carriedInv1 = carried.data.find((i: any) => i.id === merged.moved.invoices.find((m: any) => m.from === inv1.id).to)
    t.match(carriedInv1, { kind: 'debit_note', total: 1000, outstanding: 1000, due_date: inv1.due_date, customer: dst })
    const notes = await get(`/v1/credit-notes?customer=${dst}`)
    t.same(notes.data.map((n: any) => n.unapplied_amount).sort(), [100, 300])

    const txS = (await get(`/v1/customers/${src}/transactions`)).data
    t.match(txS[0], { type: 'merge_out', amount: -900, balance_after: 0, source: merged.id })
    const txT = (await get(`/v1/customers/${dst}/transactions`)).data
    t.match(txT[0], { type: 'merge_in', amount: 900, balance_after: 1600 })
    t.notOk(txT.some((x: any) => x.customer === src), 'without include_merged, only its own rows')
    const family = (await get(`/v1/customers/${dst}/transactions?include_merged=true&limit=100`)).data
    t.ok(family.some((x: any) => x.customer === src && x.type === 'invoice'), "with include_merged, the source's history too")

    const entry = await get(`/v1/journal-entries/${merged.journal_entry}`)
    const sum = (side: 'debit' | 'credit') => entry.lines.reduce((s: number, l: any) => s + l[side], 0)
    t.equal(sum('debit'), sum('credit'), 'balanced')
    t.equal(sum('debit'), 1700, 'AR 1300 and advances 400')
    const events = await env.admin('events').where({ tenant_id: tenant.uuid, type: 'customer.merged' })
    t.equal(events.length, 1)
    await intact(t, env, tenant.uuid)
  })

  await t.test('the target works its carried items like its own', async (t) => {
    const carriedInv2 = merged.moved.invoices.find((m: any) => m.from === inv2.id).to
    const carriedPay = merged.moved.credits.find((m: any) => m.from === p2.id).to
    const alc = await api.post('/v1/allocations', { source: carriedPay, invoice: carriedInv2, amount: 300 })
    t.equal(alc.statusCode, 201, alc.raw)
    const pay = await payment(api, dst, 1700, { auto_apply: true })
    t.ok(pay.unapplied_amount >= 0)
    t.same(await balance(api, dst), { pending_balance: 0, advance_balance: 100, current_balance: -100 })
    t.match(await get(`/v1/invoices/${own.id}`), { status: 'paid' })
    await intact(t, env, tenant.uuid)
  })

  await t.test('refusals write nothing', async (t) => {
    const a = await customer(api, { name: 'A' })
    const b = await customer(api, { name: 'B' })
    const eur = await customer(api, { name: 'E', currency: 'eur' })
    const gone = await customer(api, { name: 'Gone' })
    t.equal((await api.delete(`/v1/customers/${gone}`, { reason: 'test' })).statusCode, 200)
    const disputed = await customer(api, { name: 'D' })
    const dInv = await invoice(api, disputed, 100)
    t.equal((await api.post('/v1/disputes', { type: 'billing_error', invoice: dInv.id, amount: 50, reason: 'x' })).statusCode, 201)
    const before = await counts(env)
    const cases: [string, Record<string, unknown>, number, string, string][] = [
      [a, { into: a, reason: 'x' }, 400, 'validation_failed', 'into'],
      [a, { into: 'cus_0000000000aaaaaaaaaaaaaaaa', reason: 'x' }, 404, 'resource_missing', 'into'],
      ['cus_0000000000aaaaaaaaaaaaaaaa', { into: a, reason: 'x' }, 404, 'resource_missing', 'id'],
      [a, { into: eur, reason: 'x' }, 422, 'currency_mismatch', 'into'],
      [a, { into: gone, reason: 'x' }, 409, 'customer_deleted', 'into'],
      [src, { into: b, reason: 'x' }, 422, 'invalid_state', 'id'],
      [a, { into: src, reason: 'x' }, 422, 'invalid_state', 'into'],
      [disputed, { into: a, reason: 'x' }, 409, 'dispute_open', 'id'],
      [a, { into: b }, 400, 'validation_failed', 'reason'],
    ]
    for (const [from, body, status, code, param] of cases) {
      const res = await api.post(`/v1/customers/${from}/merge`, body)
      t.equal(res.statusCode, status, `${from} ${JSON.stringify(body)} → ${res.raw}`)
      t.equal(res.body.error?.code, code)
      t.equal(res.body.error?.param, param)
    }
    t.same(await counts(env), before)
    const toMerged = await api.post('/v1/invoices', { customer: src, lines: [{ description: 'x', quantity: 1, unit_amount: 10 }] })
    t.equal(toMerged.statusCode, 422, 'a merged customer takes no new document')
    t.equal(toMerged.body.error.code, 'customer_inactive')
    const payMerged = await api.post('/v1/payments', { customer: src, amount: 10, method: 'cash' })
    t.equal(payMerged.statusCode, 422)
  })

  await t.test('reversing twice is already_reversed, also once the customer is merged', async (t) => {
    const x = await customer(api, { name: 'X' })
    const y = await customer(api, { name: 'Y' })
    const xInv = await invoice(api, x, 500)
    const xPay = await payment(api, x, 200, { allocations: [{ invoice: xInv.id, amount: 200 }] })
    const live = await payment(api, x, 50)
    const voided = await payment(api, x, 70)
    const alc = xPay.allocations[0].id
    t.equal((await api.post(`/v1/allocations/${alc}/reverse`, { reason: 'x' })).statusCode, 200)
    t.equal((await api.post(`/v1/payments/${voided.id}/void`, { reason: 'x' })).statusCode, 200)
    t.equal((await api.post(`/v1/customers/${x}/merge`, { into: y, reason: 'x' })).statusCode, 200)
    const before = await counts(env)
    const cases: [string, string, string][] = [
      [`/v1/allocations/${alc}/reverse`, 'already_reversed', 'the reversed allocation'],
      [`/v1/payments/${voided.id}/void`, 'already_reversed', 'the voided payment'],
      [`/v1/payments/${live.id}/void`, 'customer_inactive', 'a payment the merge settled'],
    ]
    for (const [url, code, what] of cases) {
      const res = await api.post(url, { reason: 'x' })
      t.same([res.statusCode, res.body.error?.code], [422, code], `${what}: ${res.raw}`)
    }
    t.same(await counts(env), before, 'nothing written')
  })

  await t.test('foreign-currency items keep their base: the ledger balances in base after the merge', async (t) => {
    const fx = await env.tenant({ base_currency: 'usd', name: 'FX' })
    const fapi = env.api(fx.key)
    const s = await customer(fapi, { name: 'S', currency: 'eur' })
    const d = await customer(fapi, { name: 'D', currency: 'eur' })
    await invoice(fapi, s, 1000, { exchange_rate: '1.1' })
    const i2 = await invoice(fapi, s, 333, { exchange_rate: '1.2345' })
    await payment(fapi, s, 111, { exchange_rate: '1.05', allocations: [{ invoice: i2.id, amount: 111 }] })
    await payment(fapi, s, 250, { exchange_rate: '1.3' })
    const res = await fapi.post(`/v1/customers/${s}/merge`, { into: d, reason: 'fx' })
    t.equal(res.statusCode, 200, res.raw)
    t.same(await balance(fapi, d), { pending_balance: 1222, advance_balance: 250, current_balance: 972 })
    await intact(t, env, fx.uuid)
    // No base residue stays behind on the source: its AR and advances sub-ledgers are zero in base too.
    const residue = await env.admin('journal_lines')
      .where({ tenant_id: fx.uuid, customer_id: s })
      .select('role')
      .sum({ base: env.admin.raw('debit - credit'), tx: env.admin.raw('tx_debit - tx_credit') })
      .groupBy('role')
    t.same(residue.map((r: any) => [r.role, Number(r.base), Number(r.tx)]).sort(), [['advances', 0, 0], ['ar', 0, 0]])
    const carriedBase = await env.admin('invoices').where({ tenant_id: fx.uuid, customer_id: d }).sum({ b: 'total_base' }).first()
    const dAr = await env.admin('journal_lines').where({ tenant_id: fx.uuid, customer_id: d, role: 'ar' }).sum({ b: env.admin.raw('debit - credit') }).first()
    t.equal(Number(dAr!.b), Number(carriedBase!.b), "the target's AR carries exactly the invoices' remaining base")
  })

  await t.test('permissions and tenancy', async (t) => {
    const a = await customer(api, { name: 'P1' })
    const b = await customer(api, { name: 'P2' })
    const accountant = await env.key(tenant.key, 'accountant')
    t.equal((await env.api(accountant.secret).post(`/v1/customers/${a}/merge`, { into: b, reason: 'x' })).statusCode, 403)
    t.equal((await env.api(accountant.secret).get('/v1/customers/duplicates')).statusCode, 403)
    const other = await env.tenant({ name: 'Other' })
    const o = await customer(env.api(other.key), { name: 'O' })
    t.equal((await env.api(other.key).post(`/v1/customers/${o}/merge`, { into: a, reason: 'x' })).statusCode, 404)
    t.equal((await api.post(`/v1/customers/${a}/merge`, { into: o, reason: 'x' })).statusCode, 404)
    t.notOk((await env.api(other.key).get('/v1/customers/duplicates')).body.data.some((d: any) => d.customers.includes(src)))
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { withTenant } from '../core/kernel/db/tenant'
import { checkLedger } from '../core/ledger/integrity'
import { newId } from '../core/kernel/ids'

t.test('checkLedger', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const check = () => withTenant(env.db, tenant.uuid, (trx) => checkLedger(trx, tenant.uuid))

  const ada = (await api.post('/v1/customers', { name: 'Ada' })).body.id
  const bob = (await api.post('/v1/customers', { name: 'Bob' })).body.id
  const invoices: any[] = []
  for (const [customer, unit_amount, tax_rate] of [[ada, 1000, '0.2'], [ada, 2500, '0'], [bob, 999, '0.07']] as const) {
    const res = await api.post('/v1/invoices', { customer, lines: [{ description: 'x', quantity: 3, unit_amount, tax_rate, unit_cost: 100 }] })
    t.equal(res.statusCode, 201, res.raw)
    invoices.push(res.body)
  }
  const adaPending = invoices[0].total + invoices[1].total

  // Another tenant's drift is not this tenant's discrepancy.
  const other = await env.tenant({ name: 'Other' })
  const otherCus = (await env.api(other.key).post('/v1/customers', { name: 'Eve' })).body.id
  t.equal((await env.api(other.key).post('/v1/invoices', { customer: otherCus, lines: [{ description: 'x', quantity: 1, unit_amount: 10 }] })).statusCode, 201)
  await env.admin('customer_balances').where({ customer_id: otherCus }).update({ pending_balance: 99 })

  await t.test('a consistent ledger has no discrepancies', async (t) => {
    t.same(await check(), [])
  })

  await t.test('gives back the nested-loop setting it turns off for its checks', async (t) => {
    // Nested loops are off for the checks (stale statistics after a bulk load made one take minutes)
    // and back as they were for the rest of the caller's transaction, whatever they were.
    for (const before of ['on', 'off']) {
      const after = await withTenant(env.db, tenant.uuid, async (trx) => {
        await trx.raw(`select set_config('enable_nestloop', ?, true)`, [before])
        t.same(await checkLedger(trx, tenant.uuid), [])
        return (await trx.raw(`select current_setting('enable_nestloop') as v`)).rows[0].v
      })
      t.equal(after, before)
    }
  })

  await t.test('every kind of document keeps the ledger consistent', async (t) => {
    const ok = async (res: Promise<{ statusCode: number; raw: string; body: any }>, status = 201) => {
      const r = await res
      t.equal(r.statusCode, status, r.raw)
      return r.body
    }
    const cus = (await ok(api.post('/v1/customers', { name: 'Cy', credit_limit: null }))).id
    const inv = (amount: number) => ok(api.post('/v1/invoices', { customer: cus, lines: [{ description: 'x', quantity: 2, unit_amount: amount, tax_rate: '0.1', unit_cost: 10 }] }))
    const [i1, i2, i3, i4] = [await inv(1000), await inv(2000), await inv(500), await inv(700)]
    const pay = await ok(api.post('/v1/payments', { customer: cus, amount: 3000, method: 'cash', allocations: [{ invoice: i1.id, amount: 1500 }] }))
    await ok(api.post('/v1/allocations', { source: pay.id, invoice: i2.id, amount: 500 }))
    const short = await ok(api.post('/v1/payments', { customer: cus, amount: 1000, method: 'card', allocations: [{ invoice: i3.id, amount: 1000 }], write_off: { amount: 100, reason: 'short' } }))
    const wo = await ok(api.post('/v1/write-offs', { invoice: i2.id, amount: 300, reason: 'bad debt' }))
    await ok(api.post(`/v1/transactions/${wo.transaction}/reverse`, { amount: 100, reason: 'partly recovered' }), 200)
    const i2txn = (await api.get(`/v1/customers/${cus}/transactions?limit=100`)).body.data.find((x: any) => x.source === i2.id && x.type === 'invoice')
    await ok(api.post(`/v1/transactions/${i2txn.id}/reverse`, { amount: 200, reason: 'price correction' }), 200)
    await ok(api.post(`/v1/invoices/${i4.id}/void`, { reason: 'issued twice' }), 200)
    await ok(api.post('/v1/credit-notes', { customer: cus, invoice: i1.id, amount: 400, reason: 'discount' }))
    await ok(api.post('/v1/adjustments', { customer: cus, amount: -250, reason: 'goodwill' }))
    await ok(api.post('/v1/adjustments', { customer: cus, amount: 120, reason: 'late fee' }))
    await ok(api.post('/v1/refunds', { customer: cus, amount: 200, source: pay.id, method: 'cash', reason: 'asked' }))
    await ok(api.post('/v1/refunds', { customer: cus, amount: 50, method: 'cash', reason: 'asked' }))
    const pay2 = await ok(api.post('/v1/payments', { customer: cus, amount: 600, method: 'cash', allocations: [{ invoice: i2.id, amount: 300 }] }))
    await ok(api.post(`/v1/payments/${pay2.id}/void`, { reason: 'bounced' }), 200)
    t.ok(short.id)
    t.same(await check(), [])
  })

  await t.test('drifted pending_balance', async (t) => {
    const where = { tenant_id: tenant.uuid, customer_id: ada }
    await env.admin('customer_balances').where(where).update({ pending_balance: adaPending + 500 })
    t.same(await check(), [
      { check: 'pending_balance', customer: ada, field: 'pending_balance', cached: adaPending + 500, ledger: adaPending, difference: 500 },
    ])
    await env.admin('customer_balances').where(where).update({ pending_balance: adaPending })
    t.same(await check(), [])
  })

  await t.test('drifted advance_balance', async (t) => {
    const where = { tenant_id: tenant.uuid, customer_id: bob }
    await env.admin('customer_balances').where(where).update({ advance_balance: 300 })
    t.same(await check(), [{ check: 'advance_balance', customer: bob, field: 'advance_balance', cached: 300, ledger: 0, difference: 300 }])
    await env.admin('customer_balances').where(where).update({ advance_balance: 0 })
  })

  await t.test('drifted invoice outstanding', async (t) => {
    const inv = invoices[1]
    const where = { tenant_id: tenant.uuid, id: inv.id }
    await env.admin('invoices').where(where).update({ outstanding: inv.total - 100 })
    t.same(await check(), [
      { check: 'pending_balance', customer: ada, field: 'invoice_outstanding', cached: adaPending - 100, ledger: adaPending, difference: -100 },
      { check: 'invoice_outstanding', customer: ada, invoice: inv.id, field: 'outstanding', cached: inv.total - 100, ledger: inv.total, difference: -100 },
      { check: 'invoice_status', customer: ada, invoice: inv.id, field: 'status', cached: 'open', ledger: 'partially_paid', difference: null },
    ])
    await env.admin('invoices').where(where).update({ status: 'partially_paid' })
    t.equal((await check()).length, 2, 'a consistent status is no discrepancy')
    await env.admin('invoices').where(where).update({ outstanding: inv.total, status: 'open' })
    t.same(await check(), [])
  })

  await t.test('an unbalanced entry (journal edited behind the triggers)', async (t) => {
    const entry = invoices[2].journal_entry
    const edit = (delta: number) =>
      env.admin.transaction(async (trx) => {
        await trx.raw('set local session_replication_role = replica')
        await trx('journal_lines').where({ tenant_id: tenant.uuid, entry_id: entry, line_no: 2 }).update({ credit: trx.raw('credit + ?', [delta]) })
      })
    const line = await env.admin('journal_lines').where({ tenant_id: tenant.uuid, entry_id: entry, line_no: 2 }).first()
    t.equal(line.role, 'revenue')
    await edit(3)
    const [totals] = await env.admin('journal_lines').where({ tenant_id: tenant.uuid }).sum({ d: 'debit', c: 'credit' })
    t.same(await check(), [
      { check: 'entry_balanced', entry, field: 'base', cached: invoices[2].total + 300, ledger: invoices[2].total + 303, difference: -3 },
      { check: 'currency_balanced', currency: 'usd', field: 'base', cached: Number(totals.d), ledger: Number(totals.c), difference: -3 },
    ])
    await edit(-3)
    t.same(await check(), [])
  })

  await t.test('a sub-ledger row reversed beyond its amount', async (t) => {
    const inv = invoices[2]
    const original = await env.admin('customer_transactions').where({ tenant_id: tenant.uuid, source_id: inv.id }).first()
    const reversal = (amount: number) => ({
      tenant_id: tenant.uuid,
      id: newId('txn'),
      customer_id: bob,
      type: 'reversal',
      amount,
      currency: 'usd',
      balance_before: 0,
      balance_after: amount,
      reference: 'REV',
      source_type: 'reversal',
      source_id: inv.id,
      posting_date: '2026-01-01',
      reverses_id: original.id,
      journal_entry_id: inv.journal_entry,
    })
    const rows = [reversal(-inv.total), reversal(-1)]
    await env.admin('customer_transactions').insert(rows)
    t.same(await check(), [
      { check: 'reversal_exceeds_original', customer: bob, transaction: original.id, field: 'reversed_amount', cached: inv.total + 1, ledger: inv.total, difference: 1 },
    ])
    await env.admin.transaction(async (trx) => {
      await trx.raw('set local session_replication_role = replica')
      await trx('customer_transactions').whereIn('id', rows.map((r) => r.id)).delete()
    })
    t.same(await check(), [])
  })
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { withTenant } from '../core/kernel/db/tenant'
import { newId } from '../core/kernel/ids'
import { periodEnd } from '../core/ledger/periods'

t.test('periodEnd: calendar month, quarter and year', async (t) => {
  t.equal(periodEnd('monthly', '2026-01-01'), '2026-01-31')
  t.equal(periodEnd('monthly', '2028-02-01'), '2028-02-29')
  t.equal(periodEnd('monthly', '2026-12-01'), '2026-12-31')
  t.equal(periodEnd('monthly', '2026-01-02'), null)
  t.equal(periodEnd('quarterly', '2026-10-01'), '2026-12-31')
  t.equal(periodEnd('quarterly', '2026-04-01'), '2026-06-30')
  t.equal(periodEnd('quarterly', '2026-02-01'), null)
  t.equal(periodEnd('yearly', '2026-01-01'), '2026-12-31')
  t.equal(periodEnd('yearly', '2026-07-01'), null)
})

t.test('periods', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const accountant = env.api((await env.key(tenant.key, 'accountant')).secret)
  const cashier = env.api((await env.key(tenant.key, 'cashier')).secret)
  const cus = await api.post('/v1/customers', { name: 'Ada' })
  t.equal(cus.statusCode, 201, cus.raw)
  const invoice = (issue_date: string) => api.post('/v1/invoices', { customer: cus.body.id, issue_date, lines: [{ description: 'x', quantity: 1, unit_amount: 1000 }] })
  const count = async (table: string) => Number((await env.admin(table).where({ tenant_id: tenant.uuid }).count('* as n'))[0].n)
  const snapshot = async () => ({
    journal_entries: await count('journal_entries'),
    invoices: await count('invoices'),
    customer_transactions: await count('customer_transactions'),
    balance: await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: cus.body.id }).first('pending_balance', 'advance_balance', 'version'),
  })

  const jan = await api.post('/v1/periods', { type: 'monthly', start_date: '2026-01-01', end_date: '2026-01-31' })

  await t.test('create: dates must match the type; overlaps are refused', async (t) => {
    t.equal(jan.statusCode, 201, jan.raw)
    t.match(jan.body, { object: 'period', type: 'monthly', start_date: '2026-01-01', end_date: '2026-01-31', status: 'open', closed_at: null })
    t.match(jan.body.id, /^per_/)
    for (const body of [
      { type: 'monthly', start_date: '2026-03-02', end_date: '2026-03-31' },
      { type: 'monthly', start_date: '2026-03-01', end_date: '2026-04-30' },
      { type: 'monthly', start_date: '2026-02-01', end_date: '2026-02-29' },
      { type: 'quarterly', start_date: '2026-02-01', end_date: '2026-04-30' },
      { type: 'yearly', start_date: '2027-01-01', end_date: '2027-06-30' },
      { type: 'weekly', start_date: '2026-03-01', end_date: '2026-03-07' },
      { type: 'monthly', start_date: '2026-03-01' },
    ]) {
      const res = await api.post('/v1/periods', body)
      t.equal(res.statusCode, 400, `${JSON.stringify(body)} → ${res.raw}`)
    }
    const overlapSame = await api.post('/v1/periods', { type: 'monthly', start_date: '2026-01-01', end_date: '2026-01-31' })
    t.equal(overlapSame.statusCode, 422)
    t.equal(overlapSame.body.error.code, 'period_overlap')
    const overlapYear = await api.post('/v1/periods', { type: 'yearly', start_date: '2026-01-01', end_date: '2026-12-31' })
    t.equal(overlapYear.body.error.code, 'period_overlap')
    const q4 = await api.post('/v1/periods', { type: 'quarterly', start_date: '2025-10-01', end_date: '2025-12-31' })
    t.equal(q4.statusCode, 201, q4.raw)
    t.equal(await count('accounting_periods'), 2)
  })

  await t.test('list and retrieve; another tenant answers 404', async (t) => {
    const list = await api.get('/v1/periods')
    t.equal(list.statusCode, 200)
    t.equal(list.body.data.length, 2)
    const one = await api.get(`/v1/periods/${jan.body.id}`)
    t.same(one.body, jan.body)
    const other = await env.tenant({ name: 'Other' })
    t.equal((await env.api(other.key).get(`/v1/periods/${jan.body.id}`)).statusCode, 404)
    t.equal((await env.api(other.key).post(`/v1/periods/${jan.body.id}/close`)).statusCode, 404)
  })

  await t.test('close: postings dated in it are refused, boundaries inclusive, nothing written', async (t) => {
    t.equal((await invoice('2026-01-15')).statusCode, 201)
    const closed = await accountant.post(`/v1/periods/${jan.body.id}/close`)
    t.equal(closed.statusCode, 200, closed.raw)
    t.match(closed.body, { status: 'closed', closed_by: /^key_/ })
    t.ok(closed.body.closed_at)
    t.equal((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'period.closed' })).length, 1)
    t.equal((await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'period.closed', entity_id: jan.body.id })).length, 1)

    const before = await snapshot()
    for (const date of ['2026-01-01', '2026-01-15', '2026-01-31']) {
      const res = await invoice(date)
      t.equal(res.statusCode, 422, date)
      t.equal(res.body.error.code, 'period_closed')
    }
    t.same(await snapshot(), before, 'nothing written')
    t.equal((await invoice('2026-02-01')).statusCode, 201, 'the day after is outside the period')
    t.equal((await invoice('2025-12-31')).statusCode, 201, 'the day before is in an open period')

    const again = await api.post(`/v1/periods/${jan.body.id}/close`)
    t.equal(again.statusCode, 422)
    t.equal(again.body.error.code, 'invalid_state')
  })

  await t.test('the database refuses an entry in a closed period, whatever the code does', async (t) => {
    const attempt = withTenant(env.db, tenant.uuid, (trx) =>
      trx('journal_entries').insert({
        tenant_id: tenant.uuid,
        id: newId('je'),
        entry_date: '2026-01-20',
        event: 'adjustment',
        source_type: 'test',
        source_id: 'test',
        currency: 'usd',
      }),
    )
    await t.rejects(attempt, /period_closed/)
  })

  await t.test('reopen needs the permission and a reason, and is audited', async (t) => {
    const denied = await cashier.post(`/v1/periods/${jan.body.id}/reopen`, { reason: 'fix' })
    t.equal(denied.statusCode, 403)
    const noReason = await accountant.post(`/v1/periods/${jan.body.id}/reopen`, {})
    t.equal(noReason.statusCode, 400)
    const blank = await accountant.post(`/v1/periods/${jan.body.id}/reopen`, { reason: '   ' })
    t.equal(blank.statusCode, 400)
    const reopened = await accountant.post(`/v1/periods/${jan.body.id}/reopen`, { reason: 'Late supplier invoice' })
    t.equal(reopened.statusCode, 200, reopened.raw)
    t.match(reopened.body, { status: 'open', closed_at: null, closed_by: null })
    const audit = await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'period.reopened' })
    t.equal(audit.length, 1)
    t.match(audit[0], { entity_id: jan.body.id, reason: 'Late supplier invoice', before: { status: 'closed' }, after: { status: 'open' } })
    t.equal((await invoice('2026-01-31')).statusCode, 201, 'posting works again')
    const twice = await accountant.post(`/v1/periods/${jan.body.id}/reopen`, { reason: 'again' })
    t.equal(twice.body.error.code, 'invalid_state', 'an open period cannot be reopened')
  })

  await t.test('lock: only a closed period, only with the permission, and final', async (t) => {
    const notClosed = await api.post(`/v1/periods/${jan.body.id}/lock`)
    t.equal(notClosed.statusCode, 422)
    t.equal(notClosed.body.error.code, 'invalid_state')
    t.equal((await accountant.post(`/v1/periods/${jan.body.id}/close`)).statusCode, 200)
    t.equal((await accountant.post(`/v1/periods/${jan.body.id}/lock`)).statusCode, 403)
    const locked = await api.post(`/v1/periods/${jan.body.id}/lock`)
    t.equal(locked.statusCode, 200, locked.raw)
    t.match(locked.body, { status: 'locked', locked_by: /^key_/ })
    t.equal((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'period.locked' })).length, 1)
    for (const action of ['reopen', 'close', 'lock']) {
      const res = await api.post(`/v1/periods/${jan.body.id}/${action}`, action === 'reopen' ? { reason: 'please' } : undefined)
      t.equal(res.statusCode, 422, action)
      t.equal(res.body.error.code, 'invalid_state', action)
    }
    const res = await invoice('2026-01-10')
    t.equal(res.body.error.code, 'period_closed')
    t.equal((await api.get(`/v1/periods/${jan.body.id}`)).body.status, 'locked')
  })

  await t.test('close refuses when a cached balance drifted from the ledger', async (t) => {
    const q2 = await api.post('/v1/periods', { type: 'quarterly', start_date: '2026-04-01', end_date: '2026-06-30' })
    t.equal(q2.statusCode, 201)
    const where = { tenant_id: tenant.uuid, customer_id: cus.body.id }
    const { pending_balance } = await env.admin('customer_balances').where(where).first('pending_balance')
    await env.admin('customer_balances').where(where).update({ pending_balance: pending_balance + 7 })
    const refused = await accountant.post(`/v1/periods/${q2.body.id}/close`)
    t.equal(refused.statusCode, 422)
    t.equal(refused.body.error.code, 'reconciliation_failed')
    t.same(refused.body.error.details, {
      count: 1,
      discrepancies: [
        { check: 'pending_balance', customer: cus.body.id, field: 'pending_balance', cached: pending_balance + 7, ledger: pending_balance, difference: 7 },
      ],
    })
    t.equal((await api.get(`/v1/periods/${q2.body.id}`)).body.status, 'open')
    await env.admin('customer_balances').where(where).update({ pending_balance })
    t.equal((await accountant.post(`/v1/periods/${q2.body.id}/close`)).statusCode, 200)
  })

  await t.test('close waits for a posting in flight in the period', async (t) => {
    const jul = await api.post('/v1/periods', { type: 'monthly', start_date: '2026-07-01', end_date: '2026-07-31' })
    t.equal(jul.statusCode, 201)
    const trx = await env.db.transaction()
    try {
      await trx.raw("select set_config('app.tenant_id', ?, true)", [tenant.uuid])
      await trx('journal_entries').insert({
        tenant_id: tenant.uuid,
        id: newId('je'),
        entry_date: '2026-07-10',
        event: 'adjustment',
        source_type: 'test',
        source_id: 'test',
        currency: 'usd',
      })
      let settled = false
      const closing = accountant.post(`/v1/periods/${jul.body.id}/close`).then((r) => {
        settled = true
        return r
      })
      await new Promise((r) => setTimeout(r, 300))
      t.notOk(settled, 'close is blocked by the posting’s FOR SHARE lock')
      await trx.rollback()
      const closed = await closing
      t.equal(closed.statusCode, 200, closed.raw)
    } finally {
      if (!trx.isCompleted()) await trx.rollback()
    }
  })

  await t.test('a period closed by another process while its dates are cached open is still refused', async (t) => {
    // The service caches dates it found open for a few seconds (core/ledger/periods.ts); a close
    // made elsewhere (here straight in the database, as another process's would be) is caught by
    // the journal's trigger: the batch fails, each request alone answers period_closed, and
    // requests for open dates in the same batch still post.
    const sep = await api.post('/v1/periods', { type: 'monthly', start_date: '2026-09-01', end_date: '2026-09-30' })
    t.equal(sep.statusCode, 201, sep.raw)
    t.equal((await invoice('2026-09-10')).statusCode, 201, 'the date is now cached open')
    await env.admin('accounting_periods').where({ tenant_id: tenant.uuid, id: sep.body.id }).update({ status: 'closed', closed_at: env.admin.fn.now() })
    const before = await snapshot()
    const [closedDay, openDay] = await Promise.all([invoice('2026-09-10'), invoice('2026-10-01')])
    t.equal(closedDay.statusCode, 422, closedDay.raw)
    t.equal(closedDay.body.error.code, 'period_closed')
    t.equal(closedDay.body.error.param, 'posting_date')
    t.equal(openDay.statusCode, 201, openDay.raw)
    const after = await snapshot()
    t.equal(after.invoices, before.invoices + 1, 'only the open day was posted')
    t.equal(after.journal_entries, before.journal_entries + 1)
    const again = await invoice('2026-09-11')
    t.equal(again.statusCode, 422, 'the next one is refused too')
    t.equal(again.body.error.code, 'period_closed')
  })
})

import pino from 'pino'
import t from 'tap'
import { producerQueue } from '../core/jobs/queues'
import { startWorker } from '../core/jobs/worker'
import { checkLedger } from '../core/ledger/integrity'
import { setupTestEnv } from './helpers/app'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

t.test('reconciliation', async (t) => {
  const env = await setupTestEnv(t)
  const worker = await startWorker({ config: env.config, db: env.db, log: pino({ level: 'silent' }), options: { relay: false, sweeps: false, schedules: false } })
  t.teardown(async () => {
    await worker.close()
    const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
    if (keys.length) await env.redis.del(...keys)
  })
  const tenant = await env.tenant({ timezone: 'Europe/Paris' })
  const api = env.api(tenant.key)
  const ok = async (res: Promise<{ statusCode: number; raw: string; body: any }>, status = 201) => {
    const r = await res
    t.equal(r.statusCode, status, r.raw)
    return r.body
  }

  const customers: string[] = []
  for (const name of ['Ada', 'Bob', 'Cy']) customers.push((await ok(api.post('/v1/customers', { name }))).id)
  const [ada, bob, cy] = customers
  const invoice = (customer: string, unit_amount: number) =>
    ok(api.post('/v1/invoices', { customer, lines: [{ description: 'x', quantity: 2, unit_amount, tax_rate: '0.1' }] }))
  const adaInv = await invoice(ada, 1000)
  const bobInv1 = await invoice(bob, 500)
  const bobInv2 = await invoice(bob, 700)
  const cyInv = await invoice(cy, 300)
  await ok(api.post('/v1/payments', { customer: bob, amount: 800, method: 'cash', allocations: [{ invoice: bobInv1.id, amount: 400 }] }))
  await ok(api.post('/v1/payments', { customer: cy, amount: cyInv.total, method: 'card', allocations: [{ invoice: cyInv.id, amount: cyInv.total }] }))

  // Another tenant's drift is never this tenant's discrepancy.
  const other = await env.tenant({ name: 'Other' })
  const otherCus = (await ok(env.api(other.key).post('/v1/customers', { name: 'Eve' }))).id
  await env.admin('customer_balances').where({ customer_id: otherCus }).update({ pending_balance: 99 })

  async function run(): Promise<any> {
    const created = await ok(api.post('/v1/reconciliations'))
    t.match(created, { id: /^rec_/, object: 'reconciliation', status: 'queued', trigger: 'manual', discrepancies: [] })
    const deadline = Date.now() + 20000
    for (;;) {
      const res = await ok(api.get(`/v1/reconciliations/${created.id}`), 200)
      if (res.status === 'completed' || res.status === 'failed') return res
      if (Date.now() > deadline) throw new Error(`run ${created.id} stuck in ${res.status}`)
      await sleep(50)
    }
  }

  await t.test('a consistent ledger: a clean run', async (t) => {
    const r = await run()
    t.match(r, { status: 'completed', discrepancy_count: 0, discrepancies: [], error: null, repaired: null })
    t.ok(r.checked >= 3 + 4 + 6, `checked ${r.checked} customers, invoices and entries`)
    t.ok(r.started && r.finished && r.finished >= r.started)
    t.equal(Number((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'reconciliation.discrepancy_detected' }).count({ n: '*' }).first())!.n), 0, 'no event')
  })

  let drifted: any
  await t.test('finds a deliberately corrupted cache, and only it', async (t) => {
    await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: ada }).increment('pending_balance', 500)
    await env.admin('invoices').where({ tenant_id: tenant.uuid, id: bobInv2.id }).decrement('outstanding', 100)
    drifted = await run()
    t.equal(drifted.status, 'completed')
    t.same(
      drifted.discrepancies.map((d: any) => [d.check, d.customer, d.invoice, d.field, d.cached, d.ledger, d.difference]),
      [
        ['pending_balance', ada, null, 'pending_balance', adaInv.total + 500, adaInv.total, 500],
        ['pending_balance', bob, null, 'invoice_outstanding', bobInv1.total - 400 + bobInv2.total - 100, bobInv1.total - 400 + bobInv2.total, -100],
        ['invoice_outstanding', bob, bobInv2.id, 'outstanding', bobInv2.total - 100, bobInv2.total, -100],
        ['invoice_status', bob, bobInv2.id, 'status', 'open', 'partially_paid', null],
      ],
    )
    t.equal(drifted.discrepancy_count, 4)
    t.notOk(drifted.discrepancies.some((d: any) => d.customer === cy || d.customer === otherCus), 'nothing about the consistent customer or the other tenant')

    const events = await env.admin('events').where({ tenant_id: tenant.uuid, type: 'reconciliation.discrepancy_detected' })
    t.equal(events.length, 1, 'reconciliation.discrepancy_detected emitted')
    t.match(events[0].data.object, { id: drifted.id, object: 'reconciliation', discrepancy_count: 4, discrepancies: drifted.discrepancies })

    const list = await ok(api.get('/v1/reconciliations?limit=1'), 200)
    t.match(list, { object: 'list', has_more: true, data: [{ id: drifted.id, discrepancy_count: 4 }] })
    t.notOk('discrepancies' in list.data[0], 'lists carry counts, not the discrepancies')
    t.equal((await api.get('/v1/reconciliations?status=completed')).body.data.length, 2)
  })

  await t.test('/metrics: the finance figures, aggregated over tenants', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 200)
    const value = (name: string, stat: string) => {
      const m = new RegExp(`^${name}\\{stat="${stat}"\\} (\\S+)$`, 'm').exec(res.body)
      return m ? Number(m[1]) : undefined
    }
    t.equal(value('tenants', 'total'), 2)
    t.equal(value('reconciliation_open_discrepancies', 'total'), 4)
    t.equal(value('reconciliation_open_discrepancies', 'tenants'), 1)
    t.equal(value('reconciliation_seconds_since_last_clean', 'never'), 1, 'the other tenant never had a clean run')
    t.ok(value('reconciliation_seconds_since_last_clean', 'max')! < 60)
    t.equal(value('receivables_overdue_ratio', 'max'), 0, 'nothing is due yet')
    t.ok(value('receivables_dso_days', 'mean')! > 0)
    t.equal(value('credit_utilization_ratio', 'mean'), undefined, 'no customer has a credit limit')
    t.notOk(res.body.includes(tenant.uuid) || res.body.includes(tenant.id), 'no tenant is named')
  })

  await t.test('permissions and tenancy', async (t) => {
    const accountant = await env.key(tenant.key, 'accountant')
    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).post('/v1/reconciliations')).statusCode, 403)
    t.equal((await env.api(cashier.secret).get(`/v1/reconciliations/${drifted.id}`)).statusCode, 403)
    t.equal((await env.api(accountant.secret).get(`/v1/reconciliations/${drifted.id}`)).statusCode, 200)
    t.equal((await env.api(accountant.secret).post(`/v1/reconciliations/${drifted.id}/repair`, { reason: 'x' })).statusCode, 403, 'repair needs its own permission')
    t.equal((await env.api(other.key).get(`/v1/reconciliations/${drifted.id}`)).statusCode, 404, 'another tenant’s run does not exist')
    t.equal((await env.api(other.key).post(`/v1/reconciliations/${drifted.id}/repair`, { reason: 'x' })).statusCode, 404)
    t.equal((await api.post(`/v1/reconciliations/${drifted.id}/repair`, {})).statusCode, 400, 'a reason is required')
    t.equal((await api.get('/v1/reconciliations/rec_nope')).statusCode, 400)
  })

  await t.test('repair rebuilds the caches from the ledger, audited; a new run is clean', async (t) => {
    const auditBefore = Number((await env.admin('audit_log').where({ tenant_id: tenant.uuid }).count({ n: '*' }).first())!.n)
    const repaired = await ok(api.post(`/v1/reconciliations/${drifted.id}/repair`, { reason: 'cache drift after incident 42' }), 200)
    t.match(repaired, { id: drifted.id, repaired: { reason: 'cache drift after incident 42' }, unrepaired: [] })
    t.same(
      repaired.changes.map((c: any) => [c.customer, c.invoice, c.field, c.before, c.after]),
      [
        [bob, bobInv2.id, 'outstanding', bobInv2.total - 100, bobInv2.total],
        [ada, null, 'pending_balance', adaInv.total + 500, adaInv.total],
      ],
    )
    const balance = await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: ada }).first()
    t.equal(balance.pending_balance, adaInv.total)
    t.match(await env.admin('invoices').where({ tenant_id: tenant.uuid, id: bobInv2.id }).first(), { outstanding: bobInv2.total, status: 'open' })
    t.same(await checkLedger(env.admin as any, tenant.uuid), [], 'the ledger and the caches agree')

    const audit = await env.admin('audit_log').where({ tenant_id: tenant.uuid }).orderBy('seq').offset(auditBefore)
    t.same(
      audit.map((a: any) => [a.action, a.entity_type, a.entity_id, a.reason, a.actor]),
      [
        ['reconciliation.repaired', 'invoice', bobInv2.id, 'cache drift after incident 42', audit[0].actor],
        ['reconciliation.repaired', 'customer_balance', ada, 'cache drift after incident 42', audit[0].actor],
        ['reconciliation.repair', 'reconciliation', drifted.id, 'cache drift after incident 42', audit[0].actor],
      ],
    )
    t.match(audit[1], { before: { pending_balance: adaInv.total + 500 }, after: { pending_balance: adaInv.total, reconciliation: drifted.id } })
    t.match(audit[0].actor, /^key_/, 'by the admin key')

    const again = await api.post(`/v1/reconciliations/${drifted.id}/repair`, { reason: 'twice' })
    t.equal(again.statusCode, 422)
    t.equal(again.body.error.code, 'invalid_state')

    const clean = await run()
    t.match(clean, { status: 'completed', discrepancy_count: 0 })
    const cleanFirst = await ok(api.get('/v1/reconciliations?limit=3'), 200)
    t.equal(cleanFirst.data[0].id, clean.id)
    const repairClean = await api.post(`/v1/reconciliations/${clean.id}/repair`, { reason: 'nothing' })
    t.equal(repairClean.statusCode, 422, 'a clean run has nothing to repair')
  })

  await t.test('the nightly job creates and completes its own run; a duplicate job changes nothing', async (t) => {
    const q = producerQueue('reconciliation')
    const before = Number((await env.admin('reconciliation_runs').where({ tenant_id: tenant.uuid }).count({ n: '*' }).first())!.n)
    await q.add({ tenantId: tenant.uuid, data: { trigger: 'nightly' } }, { jobId: 'nightly-test', attempts: 1 })
    const deadline = Date.now() + 15000
    while (!(await (await q.getJob('nightly-test'))?.isCompleted()) && Date.now() < deadline) await sleep(50)
    const runs = await env.admin('reconciliation_runs').where({ tenant_id: tenant.uuid }).orderBy('id', 'desc')
    t.equal(runs.length, before + 1)
    t.match(runs[0], { trigger: 'nightly', status: 'completed', discrepancy_count: 0, created_by: 'system' })

    // The manual run's job again (a Redis republish): the finished run stays as it is.
    await q.add({ tenantId: tenant.uuid, data: { runId: runs[0].id } }, { jobId: 'dup', attempts: 1 })
    while (!(await (await q.getJob('dup'))?.isCompleted()) && Date.now() < deadline) await sleep(50)
    t.match((await q.getJob('dup'))!.returnvalue, { run: runs[0].id, skipped: 'finished' })
    t.same(await env.admin('reconciliation_runs').where({ tenant_id: tenant.uuid, id: runs[0].id }).first(), runs[0])
  })

  await t.test('with approvals.repair on, a repair waits for a second key and runs once on approval', async (t) => {
    await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: cy }).increment('pending_balance', 250)
    const drift = await run()
    t.equal(drift.discrepancy_count, 1)
    t.equal((await api.patch('/v1/settings', { approvals: { repair: true } })).statusCode, 200)

    const held = await api.post(`/v1/reconciliations/${drift.id}/repair`, { reason: 'drift after restore' })
    t.equal(held.statusCode, 202, held.raw)
    t.match(held.body, { object: 'approval_request', status: 'pending', action: 'reconciliation.repair', amount: 0, payload: { params: { id: drift.id }, body: { reason: 'drift after restore' } } })
    t.equal((await ok(api.get(`/v1/reconciliations/${drift.id}`), 200)).repaired, null, 'nothing repaired while it waits')
    t.equal((await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: cy }).first()).pending_balance, 250, 'cy paid in full: the cache says 250')

    const self = await api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(self.statusCode, 403)
    t.equal(self.body.error.code, 'self_approval')

    const second = await env.key(tenant.key, 'admin')
    const approved = await env.api(second.secret).post(`/v1/approval-requests/${held.body.id}/approve`, { reason: 'checked the ledger' })
    t.equal(approved.statusCode, 200, approved.raw)
    t.match(approved.body, { status: 'approved', result: { id: drift.id, repaired: { reason: 'drift after restore' }, unrepaired: [] } })
    t.equal((await env.admin('customer_balances').where({ tenant_id: tenant.uuid, customer_id: cy }).first()).pending_balance, 0, 'repaired on approval')
    const again = await env.api(second.secret).post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(again.body.error?.code, 'approval_not_pending', 'once')
    t.equal((await api.patch('/v1/settings', { approvals: { repair: false } })).statusCode, 200)
    t.match(await run(), { discrepancy_count: 0 })
  })

  await t.test('a run whose job was lost is enqueued again by the sweep', async (t) => {
    const [row] = await env.admin('reconciliation_runs')
      .insert({ tenant_id: tenant.uuid, id: 'rec_0000000000lostjob000000000', status: 'queued', trigger: 'manual', created_at: env.admin.raw(`now() - interval '1 hour'`) })
      .returning('*')
    const w2 = await startWorker({ config: env.config, db: env.db, log: pino({ level: 'silent' }), options: { relay: false, schedules: false, sweepEveryMs: 200, types: [] } })
    const deadline = Date.now() + 15000
    let status = 'queued'
    while (status !== 'completed' && Date.now() < deadline) {
      await sleep(100)
      status = (await env.admin('reconciliation_runs').where({ tenant_id: tenant.uuid, id: row.id }).first()).status
    }
    await w2.close()
    t.equal(status, 'completed')
  })
})

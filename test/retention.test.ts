import pino from 'pino'
import t from 'tap'
import type { Trx } from '../core/kernel/db/knex'
import type { RequestContext } from '../core/kernel/context'
import { withTenant } from '../core/kernel/db/tenant'
import { addDays, todayIn } from '../core/kernel/dates'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker } from '../core/jobs/worker'
import { checkLedger } from '../core/ledger/integrity'
import { setupTestEnv } from './helpers/app'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * The anonymization step the runner is given (the privacy workflow in production): blanks the
 * customer row the same way, so what the runner selects and records is tested for real.
 */
const anonymized: string[] = []
async function anonymize(trx: Trx, ctx: RequestContext, customerId: string, reason: string) {
  if (!reason.startsWith('retention')) throw new Error('reason expected')
  anonymized.push(customerId)
  await trx('customers')
    .where({ tenant_id: ctx.tenantId, id: customerId })
    .update({ name: 'Anonymized customer', email: null, phone: null, tax_id: null, billing_address: null, shipping_address: null, metadata: {}, external_id: null })
}

const TYPES = ['soft_deleted_customers', 'notifications', 'communications', 'webhook_deliveries', 'events', 'idempotency_keys', 'audit_log', 'documents']

t.test('retention', async (t) => {
  const env = await setupTestEnv(t)
  const worker = await startWorker({
    config: env.config,
    db: env.db,
    log: pino({ level: 'silent' }),
    // The credit policy would react to the clock advanced below (every customer years overdue) and
    // write audit rows and events while the counts are compared: it is not what this test measures.
    registry: workerRegistry(env.config, { anonymizeCustomer: anonymize, omit: ['credit-policy', 'credit-policy-requeue', 'nightly-credit-policy'] }),
    options: { sweeps: false, schedules: false },
  })
  t.teardown(async () => {
    await worker.close()
    const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
    if (keys.length) await env.redis.del(...keys)
  })
  const ok = async (res: Promise<{ statusCode: number; raw: string; body: any }>, status = 200) => {
    const r = await res
    if (r.statusCode !== status) t.fail(`${r.statusCode}: ${r.raw}`)
    return r.body
  }

  /** A tenant with a paid invoice, a soft-deleted customer, an idempotent request, a delivered webhook. */
  async function populate(key: string, uuid: string) {
    const api = env.api(key)
    const cus = await ok(api.post('/v1/customers', { name: 'Ada', email: 'ada@example.com' }, { 'idempotency-key': `create-ada-${uuid}` }), 201)
    const inv = await ok(api.post('/v1/invoices', { customer: cus.id, lines: [{ description: 'x', quantity: 1, unit_amount: 1000, tax_rate: '0' }] }), 201)
    await ok(api.post('/v1/payments', { customer: cus.id, amount: 1000, method: 'cash', allocations: [{ invoice: inv.id, amount: 1000 }] }), 201)
    const open = await ok(api.post('/v1/invoices', { customer: cus.id, lines: [{ description: 'y', quantity: 1, unit_amount: 500, tax_rate: '0' }] }), 201)
    const gone = await ok(api.post('/v1/customers', { name: 'Bob Gone', email: 'bob@example.com', phone: '+15550001' }), 201)
    await ok(api.delete(`/v1/customers/${gone.id}`, { reason: 'left' }))
    // Subscribed to an event that never happens here: the worker makes no delivery of its own, the
    // old delivered one below is a fixture (a real one would race the test with its attempts).
    const endpoint = await ok(api.post('/v1/webhook-endpoints', { url: 'https://hooks.example.com/ar', events: ['period.locked'] }), 201)
    // Every event published (the relay runs in the worker), then one old delivered webhook.
    for (let i = 0; ; i++) {
      const { n } = (await env.admin('events').where({ tenant_id: uuid }).whereNull('published_at').count('* as n').first()) as any
      if (Number(n) === 0) break
      if (i > 400) throw new Error('events never published')
      await sleep(50)
    }
    const event = await env.admin('events').where({ tenant_id: uuid }).orderBy('id').first()
    await env.admin('webhook_deliveries')
      .where({ tenant_id: uuid })
      .update({ status: 'delivered', next_attempt_at: null, delivered_at: env.admin.fn.now() })
    await env.admin('webhook_deliveries').insert({ tenant_id: uuid, id: `whd_fixture${uuid.slice(0, 8)}`, endpoint_id: endpoint.id, event_id: event.id, event_type: event.type, status: 'delivered', attempts: 1, delivered_at: new Date() })
    await env.admin('webhook_delivery_attempts').insert({ tenant_id: uuid, id: `wha_fixture${uuid.slice(0, 8)}`, delivery_id: `whd_fixture${uuid.slice(0, 8)}`, attempt: 1, status_code: 200, duration_ms: 5 })
    return { api, cus, inv, open, gone }
  }

  const a = await env.tenant({ name: 'Retained', sandbox: true })
  const b = await env.tenant({ name: 'Other', sandbox: true })
  const A = await populate(a.key, a.uuid)
  await populate(b.key, b.uuid)
  const api = A.api

  const tables = ['events', 'audit_log', 'idempotency_keys', 'webhook_deliveries', 'webhook_delivery_attempts', 'customers', 'invoices', 'journal_entries', 'journal_lines', 'customer_transactions']
  async function snapshot(uuid: string) {
    const out: Record<string, unknown> = {}
    for (const table of tables) out[table] = Number(((await env.admin(table).where({ tenant_id: uuid }).count('* as n').first()) as any).n)
    out.balances = await env.admin('customer_balances').where({ tenant_id: uuid }).orderBy('customer_id').select('customer_id', 'pending_balance', 'advance_balance')
    out.customers_rows = await env.admin('customers').where({ tenant_id: uuid }).orderBy('id').select('id', 'name', 'email')
    return out
  }
  let otherBefore: Record<string, unknown>

  await t.test('defaults come from retention-standard through the plugin pool', async (t) => {
    const res = await ok(api.get('/v1/retention-policies'))
    const by = Object.fromEntries(res.data.map((p: any) => [p.data_type, p]))
    t.same(Object.keys(by).sort(), [...TYPES].sort())
    const src = 'plugin:retention-standard'
    t.same(by.documents, { data_type: 'documents', retain_days: 7 * 365, action: 'archive', source: src })
    t.same(by.audit_log, { data_type: 'audit_log', retain_days: 7 * 365, action: 'archive', source: src })
    t.same(by.soft_deleted_customers, { data_type: 'soft_deleted_customers', retain_days: 730, action: 'anonymize', source: src })
    t.same(by.notifications, { data_type: 'notifications', retain_days: 730, action: 'purge', source: src })
    t.same(by.communications, { data_type: 'communications', retain_days: 730, action: 'purge', source: src })
    t.same(by.webhook_deliveries, { data_type: 'webhook_deliveries', retain_days: 90, action: 'purge', source: src })
    t.same(by.events, { data_type: 'events', retain_days: 365, action: 'purge', source: src })
    t.same(by.idempotency_keys, { data_type: 'idempotency_keys', retain_days: 2, action: 'purge', source: src })
  })

  await t.test('overrides: refused ones write nothing; an allowed one shows as the tenant’s', async (t) => {
    const refused: [string, unknown, number, string][] = [
      ['documents', { retain_days: 30, action: 'purge' }, 400, 'retention_action_not_allowed'],
      ['audit_log', { retain_days: 30, action: 'purge' }, 400, 'retention_action_not_allowed'],
      ['soft_deleted_customers', { retain_days: 30, action: 'archive' }, 400, 'retention_action_not_allowed'],
      ['idempotency_keys', { retain_days: 30, action: 'archive' }, 400, 'retention_action_not_allowed'],
      ['journal_entries', { retain_days: 30, action: 'archive' }, 400, 'retention_data_type_unknown'],
      ['events', { retain_days: 0, action: 'archive' }, 400, 'validation_failed'],
      ['events', { retain_days: 30, action: 'delete' }, 400, 'validation_failed'],
    ]
    for (const [type, body, status, code] of refused) {
      const res = await api.put(`/v1/retention-policies/${type}`, body)
      t.equal(res.statusCode, status, `${type} ${JSON.stringify(body)}: ${res.raw}`)
      t.equal(res.body.error?.code, code)
    }
    t.equal(Number(((await env.admin('retention_policies').count('* as n').first()) as any).n), 0, 'nothing stored')
    const put = await ok(api.put('/v1/retention-policies/events', { retain_days: 365, action: 'archive' }))
    t.same(put, { data_type: 'events', retain_days: 365, action: 'archive', source: 'tenant' })
    t.equal((await ok(api.get('/v1/retention-policies'))).data.find((p: any) => p.data_type === 'events').source, 'tenant')
    const viewer = await env.key(a.key, 'accountant')
    t.equal((await env.api(viewer.secret).put('/v1/retention-policies/events', { retain_days: 400, action: 'archive' })).statusCode, 403, 'settings.manage required')
  })

  const zero = Object.fromEntries(TYPES.map((k) => [k, 0]))
  await t.test('nothing is due before the windows pass', async (t) => {
    t.same((await ok(api.post('/v1/retention/dry-run'))).counts, zero)
  })

  // Past every window but the 7 years of documents and the audit log... then past those too.
  const today = todayIn('UTC')
  await ok(api.post('/v1/test-clock/advance', { date: addDays(today, 8 * 365) }))
  await ok(env.api(b.key).post('/v1/test-clock/advance', { date: addDays(today, 8 * 365) }))
  otherBefore = await snapshot(b.uuid)

  async function run(): Promise<any> {
    const created = await ok(api.post('/v1/retention/runs'), 201)
    t.match(created, { id: /^rtr_/, object: 'retention_run', status: 'queued', trigger: 'manual' })
    for (let i = 0; ; i++) {
      const r = await ok(api.get(`/v1/retention/runs/${created.id}`))
      if (r.status === 'completed' || r.status === 'failed') return r
      if (i > 600) throw new Error(`run stuck in ${r.status}`)
      await sleep(50)
    }
  }

  let firstEvent: any
  let auditTotal = 0
  await t.test('a dry run counts exactly what the run then does', async (t) => {
    firstEvent = await env.admin('events').where({ tenant_id: a.uuid }).orderBy('id').first()
    auditTotal = Number(((await env.admin('audit_log').where({ tenant_id: a.uuid }).count('* as n').first()) as any).n)
    const before = await snapshot(a.uuid)
    const dry = await ok(api.post('/v1/retention/dry-run'))
    t.same(await snapshot(a.uuid), before, 'the dry run wrote nothing')
    t.equal(dry.as_of, addDays(today, 8 * 365), 'as of the test clock')
    t.ok(dry.counts.events >= 5, `events ${dry.counts.events}`)
    t.equal(dry.counts.webhook_deliveries, before.webhook_deliveries, 'every delivery (all delivered)')
    t.ok(dry.counts.idempotency_keys >= 1)
    t.ok(dry.counts.audit_log >= 1 && dry.counts.audit_log < auditTotal, 'the newest row of each lane stays')
    t.equal(dry.counts.documents, 1, 'the paid invoice; the open one stays')
    t.equal(dry.counts.soft_deleted_customers, 1)

    const r = await run()
    t.equal(r.status, 'completed', r.error)
    t.same(r.counts, dry.counts, 'the run did what the dry run said')
    t.same(r.skipped, zero)
  })

  await t.test('purged, archived and anonymized as the policies say', async (t) => {
    const n = async (table: string) => Number(((await env.admin(table).where({ tenant_id: a.uuid }).count('* as n').first()) as any).n)
    t.equal(await n('idempotency_keys'), 0, 'idempotency keys purged')
    t.equal(await n('webhook_deliveries'), 0, 'deliveries purged')
    t.equal(await n('webhook_delivery_attempts'), 0, 'with their attempts')
    t.equal(await n('events'), 0, 'events left the live table')
    t.ok((await n('archive.events')) >= 5, 'into the archive')
    const ev = await ok(api.get(`/v1/events/${firstEvent.id}`))
    t.match(ev, { id: firstEvent.id, object: 'event', type: firstEvent.type, archived: true })
    t.ok((await n('archive.audit_log')) >= 1)
    t.equal((await n('audit_log')) + (await n('archive.audit_log')), auditTotal, 'every audit row is in one place')
    const verify = await ok(api.get('/v1/audit-log/verify'))
    t.same(verify, { ok: true, checked: auditTotal, first_invalid_seq: null, problem: null }, 'the chain verifies across both places')
    t.same(await env.admin('archive.documents').where({ tenant_id: a.uuid }).pluck('id'), [A.inv.id], 'the paid invoice is marked archived')
    t.match(await ok(api.get(`/v1/invoices/${A.inv.id}`)), { id: A.inv.id, total: 1000, status: 'paid' }, 'and still reads with its amounts')
    t.same(anonymized, [A.gone.id], 'the soft-deleted customer went through the anonymization step')
    const gone = await env.admin('customers').where({ tenant_id: a.uuid, id: A.gone.id }).first()
    t.match(gone, { name: 'Anonymized customer', email: null, phone: null, status: 'deleted' })
    t.same(await withTenant(env.db, a.uuid, (trx) => checkLedger(trx, a.uuid)), [], 'the ledger checks clean')
  })

  await t.test('the audit log still refuses changes outside a retention run, and unarchived deletes inside one', async (t) => {
    await t.rejects(withTenant(env.db, a.uuid, (trx) => trx('audit_log').where({ tenant_id: a.uuid }).delete()), /append-only/)
    await t.rejects(
      withTenant(env.db, a.uuid, async (trx) => {
        await trx.raw(`select set_config('app.retention_run', 'rtr_forged', true)`)
        await trx('audit_log').where({ tenant_id: a.uuid }).delete()
      }),
      /not archived|newest of its lane/,
    )
    await t.rejects(withTenant(env.db, a.uuid, (trx) => trx('archive.events').where({ tenant_id: a.uuid }).delete()), /permission denied|append-only/)
  })

  await t.test('a re-run does nothing more; the other tenant is untouched', async (t) => {
    t.same((await ok(api.post('/v1/retention/dry-run'))).counts, zero)
    const again = await run()
    t.same(again.counts, zero)
    t.same(anonymized, [A.gone.id], 'nobody anonymized twice')
    t.same(await snapshot(b.uuid), otherBefore, 'the other tenant kept everything')
    t.equal((await env.api(b.key).get(`/v1/events/${firstEvent.id}`)).statusCode, 404, 'and cannot read the archive of another')
    // New audit rows chain on from the lane tails that stayed, in every lane.
    for (let i = 0; i < 20; i++) await ok(api.patch(`/v1/customers/${A.cus.id}`, { metadata: { n: String(i) } }))
    await ok(api.post('/v1/customers', { name: 'Later' }), 201)
    t.match(await ok(api.get('/v1/audit-log/verify')), { ok: true, first_invalid_seq: null })
  })

  await t.test('metrics: rows per data type and action, last run age', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/metrics' })
    t.match(res.body, /retention_rows_total\{data_type="events",action="archive"\} \d+/)
    t.match(res.body, /retention_rows_total\{data_type="soft_deleted_customers",action="anonymize"\} 1/)
    t.match(res.body, /retention_last_run_age_seconds \d/)
    t.notMatch(res.body, new RegExp(a.uuid), 'no tenant in the labels')
  })
})

t.test('in production the anonymization step is the privacy workflow (crypto-shredding)', async (t) => {
  const env = await setupTestEnv(t)
  const worker = await startWorker({ config: env.config, db: env.db, log: pino({ level: 'silent' }), options: { sweeps: false, schedules: false } })
  t.teardown(() => worker.close())
  const tenant = await env.tenant({ name: 'Shredded', sandbox: true })
  const api = env.api(tenant.key)
  const gone = (await api.post('/v1/customers', { name: 'Carol Gone', email: 'carol@example.com', tax_id: 'GB999' })).body
  t.equal((await api.delete(`/v1/customers/${gone.id}`, { reason: 'left' })).statusCode, 200)
  t.equal((await api.post('/v1/test-clock/advance', { date: addDays(todayIn('UTC'), 3 * 365) })).statusCode, 200)
  const created = (await api.post('/v1/retention/runs')).body
  let run: any
  for (let i = 0; i < 600; i++) {
    run = (await api.get(`/v1/retention/runs/${created.id}`)).body
    if (run.status === 'completed' || run.status === 'failed') break
    await sleep(50)
  }
  t.equal(run.status, 'completed', JSON.stringify(run))
  const row = await env.admin('customers').where({ tenant_id: tenant.uuid, id: gone.id }).first()
  t.match(row, { email: null, tax_id: null, status: 'deleted' })
  t.not(row.anonymized_at, null, 'anonymized by the privacy workflow')
  const key = await env.admin('customer_keys').where({ tenant_id: tenant.uuid, customer_id: gone.id }).first()
  t.ok(!key || key.wrapped_key === null, 'its data key is destroyed')
  const audit = await env.admin.raw(`select count(*)::int as n from audit_log where tenant_id = ? and (before::text like '%carol@example.com%' or after::text like '%carol@example.com%')`, [tenant.uuid])
  t.equal(audit.rows[0].n, 0, 'nothing in clear in the audit log')
})

import t from 'tap'
import pino from 'pino'
import { startWorker } from '../core/jobs/worker'
import { setupTestEnv, type ApiClient } from './helpers/app'
import { withTenant } from '../core/kernel/db/tenant'
import { newId } from '../core/kernel/ids'
import { queueEvaluations, takeEvaluations } from '../core/credit-policy/model'

/** Credit policy through the API (API.md "Credit policy", "Credit score and credit limits"). */

async function until<T>(fn: () => Promise<T | undefined | null | false>, what: string, tries = 200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await fn()
    if (v) return v
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`gave up waiting for ${what}`)
}

async function events(api: ApiClient, type: string): Promise<any[]> {
  const res = await api.get(`/v1/events?type=${type}&limit=100`)
  return res.body.data
}

const rule = (name: string, when: unknown, actions: unknown[] = [{ type: 'warn', level: 1 }]) => ({ name, when, actions })

t.test('credit policy', async (t) => {
  const env = await setupTestEnv(t)
  const worker = await startWorker({ config: env.config, db: env.db, log: pino({ level: 'silent' }), options: { sweeps: false, schedules: false, relay: { pollMs: 50 } as any } })
  t.teardown(() => worker.close())

  t.test('the consumer gets the event types it wants; one naming no customer is dispatched, not retried forever', async (t) => {
    // The credit-policy consumer evaluates the customers of the changes it wants (payments and the
    // like): an id that is no customer is skipped instead of failing the batch on each retry, and
    // an event type it does not want (customer.updated) never reaches it.
    const { key, uuid } = await env.tenant()
    const api = env.api(key)
    const [real, other] = [(await api.post('/v1/customers', { name: 'Real' })).body, (await api.post('/v1/customers', { name: 'Other' })).body]
    const event = (type: string, object: unknown) => ({ tenant_id: uuid, id: newId('evt'), type, data: JSON.stringify({ object }) })
    await withTenant(env.db, uuid, (trx) =>
      trx('events').insert([
        event('payment.created', { object: 'payment', id: 'pay_x', customer: 'cus_nobody' }),
        event('payment.created', { object: 'payment', id: 'pay_y', customer: real.id }),
        event('customer.updated', { object: 'customer', id: other.id }),
      ]),
    )
    const undispatched = async () => Number((await withTenant(env.db, uuid, (trx) => trx('events').whereNull('dispatched_at').count('* as n').first()))!.n)
    await until(async () => (await undispatched()) === 0, 'every event dispatched')
    // The consumer queued the customers; the evaluation job takes them a moment later.
    const waiting = async () => Number((await withTenant(env.db, uuid, (trx) => trx('credit_policy_pending').count('* as n').first()))!.n)
    await until(async () => (await waiting()) === 0, 'the queued customers evaluated')
    const states = await withTenant(env.db, uuid, (trx) => trx('credit_policy_states').pluck('customer_id'))
    t.same(states, [real.id], 'a state row for the paying customer only')
    const consumed = await withTenant(env.db, uuid, (trx) => trx('consumed_events as c').join('events as e', function () {
      this.on('e.tenant_id', 'c.tenant_id').andOn('e.id', 'c.event_id')
    }).where({ 'c.consumer': 'credit-policy' }).pluck('e.type'))
    t.notOk(consumed.includes('customer.updated'), 'customer.updated was not handed to the credit-policy consumer')
    t.equal(consumed.filter((x: string) => x === 'payment.created').length, 2)
  })

  t.test('evaluations after changes coalesce: each customer once per take, rows another evaluation holds skipped', async (t) => {
    const { key, uuid } = await env.tenant()
    const api = env.api(key)
    const [a, b] = [(await api.post('/v1/customers', { name: 'A' })).body.id, (await api.post('/v1/customers', { name: 'B' })).body.id]
    const ctx = { tenantId: uuid }
    // Queued by hand (no event): the worker's job is not told, so these rows stay until taken here.
    await withTenant(env.db, uuid, (trx) => queueEvaluations(trx, ctx, [a, b, a, a]))
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let first!: { customers: string[]; rows: number }
    const holder = withTenant(env.db, uuid, async (trx) => {
      first = await takeEvaluations(trx, ctx, 2) // the two oldest rows: a, b
      await held
    })
    await until(async () => first, 'the first take')
    t.same(first, { customers: [a, b], rows: 2 })
    const second = await withTenant(env.db, uuid, (trx) => takeEvaluations(trx, ctx, 10))
    t.same(second, { customers: [a], rows: 2 }, 'the rows the first take holds are skipped; a twice is evaluated once')
    release()
    await holder
    t.same(await withTenant(env.db, uuid, (trx) => takeEvaluations(trx, ctx, 10)), { customers: [], rows: 0 }, 'taken rows are gone with their commit')

    // Through the API: a burst of payments to one customer leaves nothing waiting and the state
    // evaluated after the last of them.
    await Promise.all(Array.from({ length: 12 }, () => api.post('/v1/payments', { customer: a, amount: 100, method: 'cash' })))
    await until(
      async () => {
        const state = await withTenant(env.db, uuid, (trx) => trx('credit_policy_states').where({ customer_id: a }).first())
        const pending = await withTenant(env.db, uuid, (trx) => trx('credit_policy_pending').count('* as n').first())
        return Number(pending!.n) === 0 && state?.facts?.advance_balance === 1200
      },
      'the paying customer evaluated after its last payment',
    )
    t.pass('evaluated with every payment counted')
  })

  t.test('plugin defaults, validation with param, versions, If-Match and restore', async (t) => {
    const { key } = await env.tenant()
    const api = env.api(key)
    const first = await api.get('/v1/credit-policy')
    t.equal(first.statusCode, 200)
    t.equal(first.body.version, 0)
    t.equal(first.body.source, 'plugin:credit-policy-standard')
    t.ok(first.body.rules.some((r: any) => r.name === 'suspend_overdue'))
    t.equal(first.headers.etag, '"0"')

    const bad = async (rules: unknown, param: string) => {
      const res = await api.put('/v1/credit-policy', { rules }, { 'if-match': '0' })
      t.equal(res.statusCode, 400, `${param}: ${res.raw}`)
      t.equal(res.body.error?.code, 'invalid_rule')
      t.equal(res.body.error?.param, param)
    }
    const ok = rule('ok', { '>': [{ var: 'overdue_amount' }, 0] })
    await bad([ok, rule('x', { and: [true, { log: [1] }] })], 'rules[1].when.and[1].log')
    await bad([ok, ok], 'rules[1].name')
    await bad([rule('x', { '>': [{ var: 'no_such_fact' }, 1] })], 'rules[0].when.>[0].var')
    await bad([rule('Bad-Name', true)], 'rules[0].name')
    await bad([rule('x', true, [{ type: 'warn', level: 9 }])], 'rules[0].actions[0].level')
    await bad([rule('x', true, [{ type: 'explode' }])], 'rules[0].actions[0].type')
    let deep: unknown = { var: 'score' }
    for (let i = 0; i < 33; i++) deep = { '!': deep }
    await bad([rule('deep', deep)], `rules[0].when${'.!'.repeat(32)}`)
    const big = Array.from({ length: 150 }, (_, i) => rule(`r${i}`, { in: [{ var: 'tier' }, Array.from({ length: 60 }, (_, j) => `tier_${j}`)] }))
    await bad(big, 'rules')
    t.equal((await api.get('/v1/credit-policy/versions')).body.data.length, 0, 'nothing written')

    const v1 = await api.put('/v1/credit-policy', { rules: [ok] }, { 'if-match': '0' })
    t.equal(v1.statusCode, 200, v1.raw)
    t.equal(v1.body.version, 1)
    t.equal(v1.body.source, 'tenant')
    const stale = await api.put('/v1/credit-policy', { rules: [ok] }, { 'if-match': '0' })
    t.equal(stale.statusCode, 412)
    t.equal(stale.body.error.code, 'version_conflict')
    const v2 = await api.put('/v1/credit-policy', { rules: [rule('two', { '>=': [{ var: 'max_days_overdue' }, 10] }, [{ type: 'suspend' }])] }, { 'if-match': '"1"' })
    t.equal(v2.body.version, 2)
    const list = await api.get('/v1/credit-policy/versions')
    t.same(list.body.data.map((v: any) => v.version), [2, 1])
    t.equal((await api.get('/v1/credit-policy/versions/1')).body.rules[0].name, 'ok')
    t.equal((await api.get('/v1/credit-policy/versions/9')).statusCode, 404)
    const restored = await api.post('/v1/credit-policy/versions/1/restore', undefined, { 'if-match': '2' })
    t.equal(restored.statusCode, 200, restored.raw)
    t.equal(restored.body.version, 3)
    t.equal(restored.body.rules[0].name, 'ok')
    t.equal((await api.get('/v1/credit-policy/versions/3')).body.restored_from, 1)

    const cashier = await env.key(key, 'cashier')
    t.equal((await env.api(cashier.secret).put('/v1/credit-policy', { rules: [ok] })).statusCode, 403)
  })

  t.test('posting effects: credit hold and suspension, override with reason, cash sales and payments pass', async (t) => {
    const { key } = await env.tenant()
    const api = env.api(key)
    const cashier = env.api((await env.key(key, 'cashier')).secret)
    const accountant = env.api((await env.key(key, 'accountant')).secret)
    const c = (await api.post('/v1/customers', { name: 'Held' })).body
    const line = [{ description: 'x', quantity: 1, unit_amount: 1000 }]
    t.equal((await accountant.patch(`/v1/customers/${c.id}`, { credit_hold: true })).statusCode, 403, 'an accountant may not set a hold')
    const held = await api.patch(`/v1/customers/${c.id}`, { credit_hold: true, tier: 'gold', preferences: { email: true, sms: false, language: 'en' } })
    t.equal(held.statusCode, 200, held.raw)
    t.equal(held.body.credit_hold, true)
    t.equal(held.body.tier, 'gold')
    t.same(held.body.preferences, { email: true, sms: false, language: 'en' })
    t.notOk('credit_hold' in (await cashier.get(`/v1/customers/${c.id}`)).body, 'hidden from a cashier')

    const refused = await accountant.post('/v1/invoices', { customer: c.id, lines: line })
    t.equal(refused.statusCode, 422)
    t.equal(refused.body.error.code, 'credit_hold')
    t.equal((await accountant.post('/v1/invoices', { customer: c.id, lines: line, credit_override: { reason: 'x' } })).statusCode, 403, 'no override permission')
    const onAccount = await cashier.post('/v1/sales', { customer: c.id, lines: line })
    t.equal(onAccount.body.error?.code, 'credit_hold', 'no sale on account')
    const cash = await cashier.post('/v1/sales', { customer: c.id, lines: line, payment: { amount: 1000, method: 'cash' } })
    t.equal(cash.statusCode, 201, `a cash sale paid in full passes: ${cash.raw}`)
    const overridden = await api.post('/v1/invoices', { customer: c.id, lines: line, credit_override: { reason: 'agreed by phone' } })
    t.equal(overridden.statusCode, 201, overridden.raw)

    await api.patch(`/v1/customers/${c.id}`, { credit_hold: false, status: 'suspended' })
    const suspended = await accountant.post('/v1/invoices', { customer: c.id, lines: line })
    t.equal(suspended.body.error?.code, 'customer_suspended')
    t.equal((await accountant.post('/v1/payments', { customer: c.id, amount: 500, method: 'cash' })).statusCode, 201, 'payments always pass')
    await api.patch(`/v1/customers/${c.id}`, { suspension_override_until: '2999-01-01' })
    t.equal((await accountant.post('/v1/invoices', { customer: c.id, lines: line })).statusCode, 201, 'a suspension override wins')
    t.equal((await accountant.patch(`/v1/customers/${c.id}`, { suspension_override_until: null })).statusCode, 403)
  })

  t.test('sandbox clock: overdue once, warn, suspend, pay → reactivated; dry run; runs; credit score', async (t) => {
    const { key } = await env.tenant({ sandbox: true })
    const api = env.api(key)
    t.equal((await api.post('/v1/test-clock/advance', { date: '2099-01-01' })).statusCode, 200)
    const c = (await api.post('/v1/customers', { name: 'Late payer', credit_limit: 100000 })).body
    const other = (await api.post('/v1/customers', { name: 'Good payer' })).body
    const inv = await api.post('/v1/invoices', { customer: c.id, payment_terms_days: 10, lines: [{ description: 'x', quantity: 1, unit_amount: 5000 }] })
    t.equal(inv.statusCode, 201, inv.raw)
    t.equal(inv.body.due_date, '2099-01-11')

    await api.post('/v1/test-clock/advance', { date: '2099-01-12' })
    const overdue = await until(async () => (await events(api, 'invoice.overdue')).length > 0 && events(api, 'invoice.overdue'), 'invoice.overdue')
    t.equal(overdue.length, 1)
    t.equal(overdue[0].data.object.id, inv.body.id)

    // Dry run of a stricter rule: nothing written.
    const dry = await api.post('/v1/credit-policy/dry-run', { rules: [rule('strict', { '>': [{ var: 'overdue_amount' }, 0] }, [{ type: 'suspend' }])] })
    t.equal(dry.statusCode, 200, dry.raw)
    t.equal(dry.body.evaluated, 2)
    t.equal(dry.body.summary.suspend, 1)
    t.equal(dry.body.summary.unchanged, 1)
    t.equal(dry.body.changes[0].customer, c.id)
    t.equal(dry.body.changes[0].facts.overdue_amount, 5000)
    t.equal(dry.body.changes[0].facts.max_days_overdue, 1)
    t.equal((await api.get(`/v1/customers/${c.id}`)).body.status, 'active', 'the dry run wrote nothing')
    const someone = await api.post('/v1/credit-policy/dry-run', { customers: [other.id] })
    t.equal(someone.body.evaluated, 1)

    await api.post('/v1/test-clock/advance', { date: '2099-01-19' })
    const warned = await until(async () => (await events(api, 'customer.credit_warning')).length >= 1 && events(api, 'customer.credit_warning'), 'warning 1')
    t.equal(warned[0].data.object.level, 1)
    t.equal(warned[0].data.object.rule, 'warning_level_1')

    await api.post('/v1/test-clock/advance', { date: '2099-03-15' })
    await until(async () => (await api.get(`/v1/customers/${c.id}`)).body.status === 'suspended', 'suspension')
    const refused = await api.post('/v1/invoices', { customer: c.id, lines: [{ description: 'x', quantity: 1, unit_amount: 100 }] })
    t.equal(refused.body.error?.code, 'customer_suspended')
    t.equal((await events(api, 'customer.suspended')).length, 1)
    t.same((await events(api, 'customer.credit_warning')).map((e) => e.data.object.level).sort(), [1, 2, 3], 'each warning level once')
    const notes = await env.admin('notifications').where({ customer_id: c.id, source: 'credit_policy', status: 'queued' }).select('template')
    t.same(notes.map((n: any) => n.template).sort(), ['overdue_warning_1', 'overdue_warning_2', 'overdue_warning_3', 'suspension_notice'])
    const audits = await env.admin('audit_log').where({ actor: 'system:credit-policy', action: 'credit_policy.applied', entity_id: c.id })
    const suspension = audits.find((a: any) => a.after.actions.some((x: any) => x.type === 'suspend'))
    t.ok(suspension, 'audited as system:credit-policy')
    t.same(suspension.after.actions.find((x: any) => x.type === 'suspend').rule, 'suspend_overdue')
    t.equal(suspension.after.policy_version, 0)
    t.equal(suspension.after.policy_source, 'plugin:credit-policy-standard')

    // A sweep now changes nothing: every action happened once this episode.
    const run = await api.post('/v1/credit-policy/runs')
    t.equal(run.statusCode, 201, run.raw)
    const done = await until(async () => {
      const r = await api.get(`/v1/credit-policy/runs/${run.body.id}`)
      return r.body.status === 'completed' && r.body
    }, 'run')
    t.equal(done.evaluated, 2)
    t.equal(done.actions_taken, 0)
    t.equal((await events(api, 'invoice.overdue')).length, 1, 'invoice.overdue once')

    const credit = await api.get(`/v1/customers/${c.id}/credit`)
    t.equal(credit.statusCode, 200, credit.raw)
    t.equal(credit.body.facts.max_days_overdue, 63)
    t.ok(credit.body.score >= 0 && credit.body.score <= 100)
    t.match(credit.body.grade, /^[A-E]$/)
    t.equal(credit.body.factors.length, 6)
    const good = (await api.get(`/v1/customers/${other.id}/credit`)).body
    t.ok(good.score > credit.body.score, 'a customer with nothing late scores higher')

    const pay = await api.post('/v1/payments', { customer: c.id, amount: 5000, method: 'cash' })
    t.equal(pay.statusCode, 201, pay.raw)
    await until(async () => (await api.get(`/v1/customers/${c.id}`)).body.status === 'active', 'reactivation after payment')
    t.equal((await events(api, 'customer.reactivated')).length, 1)
    t.equal((await api.post('/v1/invoices', { customer: c.id, lines: [{ description: 'x', quantity: 1, unit_amount: 100 }] })).statusCode, 201)
  })
})

import net from 'node:net'
import pino from 'pino'
import t from 'tap'
import { withTenant } from '../core/kernel/db/tenant'
import { defineEventConsumer } from '../core/events/consumers'
import { dispatchEvents } from '../core/events/dispatch'
import { publishTenant, RELAY_DEFAULTS, type RelayOptions } from '../core/events/relay'
import { newId } from '../core/kernel/ids'
import { configureJobs, producerQueue } from '../core/jobs/queues'
import { workerRegistry } from '../core/jobs/registry'
import { PLATFORM_TOKEN, setupTestEnv } from './helpers/app'

/**
 * The relay's turn, step by step, against real Postgres and Redis: events no consumer wants are
 * settled in SQL and never reach Redis; wanted ones go out in batch jobs; and Redis is called only
 * after the claim has committed, with a timeout, so a Redis that does not answer holds no row lock
 * and loses no event.
 */
t.test('relay', async (t) => {
  const env = await setupTestEnv(t)
  t.teardown(async () => {
    const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
    if (keys.length) await env.redis.del(...keys)
  })
  const registry = workerRegistry(env.config)
  const o: RelayOptions = { ...RELAY_DEFAULTS, publishTimeoutMs: 1000 }
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const insertEvents = (types: string[]) =>
    withTenant(env.db, tenant.uuid, async (trx) => {
      const rows = types.map((type) => ({ tenant_id: tenant.uuid, id: newId('evt'), type, data: JSON.stringify({ object: {} }) }))
      await trx('events').insert(rows)
      return rows.map((r) => r.id)
    })
  const events = (ids: string[]) => env.admin('events').whereIn('id', ids).orderBy('id').select('id', 'published_at', 'dispatched_at', 'publish_count')
  const dispatchJobs = async () => (await producerQueue('event-dispatch').getJobs(['waiting', 'delayed', 'active'])).filter(Boolean)
  // The tenant's own events (tenant.created…) first: nobody wants them either.
  await publishTenant(env.db, tenant.uuid, o, registry.consumers)

  await t.test('events no consumer wants are settled in SQL, nothing is enqueued', async (t) => {
    const ids = await insertEvents(Array.from({ length: 120 }, () => 'customer.updated'))
    const r = await publishTenant(env.db, tenant.uuid, o, registry.consumers)
    t.equal(r.published, 120, 'all handed on')
    const rows = await events(ids)
    t.ok(rows.every((e) => e.published_at && e.dispatched_at), 'each one published and dispatched')
    t.ok(rows.every((e) => e.publish_count === 0), 'none went through the queue')
    t.equal((await dispatchJobs()).length, 0, 'no dispatch job')
  })

  await t.test('wanted events go out in batch jobs; the others are settled', async (t) => {
    const hook = await api.post('/v1/webhook-endpoints', { url: 'https://hooks.example.com/x', events: ['customer.deleted'] })
    t.equal(hook.statusCode, 201, hook.raw)
    const wanted = await insertEvents(Array.from({ length: 150 }, () => 'customer.deleted'))
    const unwanted = await insertEvents(Array.from({ length: 30 }, () => 'customer.updated'))
    const r = await publishTenant(env.db, tenant.uuid, { ...o, dispatchBatch: 100 }, registry.consumers)
    t.equal(r.published, 180)
    const w = await events(wanted)
    t.ok(w.every((e) => e.published_at && !e.dispatched_at && e.publish_count === 1), 'wanted: published, not yet dispatched')
    t.ok((await events(unwanted)).every((e) => e.dispatched_at && e.publish_count === 0), 'unwanted: settled')
    const jobs = await dispatchJobs()
    t.same(jobs.map((j) => j.data.data.eventIds.length).sort(), [100, 50].sort(), 'two batch jobs')
    t.same(jobs.flatMap((j) => j.data.data.eventIds).sort(), [...wanted].sort(), 'carrying exactly the wanted events')
    t.ok(jobs.every((j) => j.data.tenantId === tenant.uuid))
    await producerQueue('event-dispatch').empty()
  })

  await t.test('a Redis that does not answer: no row lock held while waiting, the claim is undone, nothing lost', async (t) => {
    // A TCP server that accepts connections and never answers: every Redis call hangs.
    const sockets = new Set<net.Socket>()
    const silent = net.createServer((s) => {
      sockets.add(s)
      s.on('error', () => undefined)
    })
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    const port = (silent.address() as net.AddressInfo).port
    const runtime = { prefix: env.config.QUEUE_PREFIX, db: env.db, log: pino({ level: 'silent' }), jobs: registry.jobs }
    configureJobs({ ...runtime, redisUrl: `redis://127.0.0.1:${port}` })

    const [id] = await insertEvents(['customer.deleted'])
    const turn = publishTenant(env.db, tenant.uuid, o, registry.consumers).then(
      () => null,
      (err: Error) => err,
    )
    // The claim commits before Redis is called: the event shows as published…
    const deadline = Date.now() + 5000
    while (!(await events([id]))[0].published_at && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    t.ok((await events([id]))[0].published_at, 'claimed and committed before publishing')
    // … and while the relay waits on Redis, its row is not locked.
    const locked = await env.admin.transaction(async (trx) => {
      try {
        await trx.raw(`select id from events where tenant_id = ? and id = ? for update nowait`, [tenant.uuid, id])
        return false
      } catch {
        return true
      }
    })
    t.notOk(locked, 'no row lock is held while Redis is called')
    const err = await turn
    t.match(err?.message, /timed out after 1000 ms/, 'the publication timed out')
    t.match((await events([id]))[0], { published_at: null, dispatched_at: null, publish_count: 0 }, 'the claim was undone: the event waits for the next turn')

    configureJobs({ ...runtime, redisUrl: env.config.REDIS_URL })
    for (const s of sockets) s.destroy()
    silent.close()
    const r = await publishTenant(env.db, tenant.uuid, o, registry.consumers)
    t.equal(r.published, 1, 'published on the next turn')
    t.match((await events([id]))[0], { dispatched_at: null, publish_count: 1 })
    t.ok((await dispatchJobs()).some((j) => j.data.data.eventIds.includes(id)), 'its dispatch job is in Redis')
  })

  await t.test('events the relay gave up on are counted, and an operator hands them back under fresh job ids', async (t) => {
    await producerQueue('event-dispatch').empty()
    const ids = await insertEvents(['customer.deleted', 'customer.deleted']) // the endpoint above wants them
    // Published the maximum of times and never dispatched (their jobs were lost or kept failing).
    await env.admin('events').whereIn('id', ids).update({ published_at: env.admin.raw(`now() - interval '1 hour'`), publish_count: o.maxPublishes })
    const quiet = await publishTenant(env.db, tenant.uuid, o, registry.consumers)
    t.equal(quiet.published, 0, 'the relay does not publish them again by itself')
    const metrics = await env.app.inject({ method: 'GET', url: '/metrics' })
    t.match(metrics.body, /outbox_stuck_events\{stat="total"\} [1-9]/, 'the metric counts them')

    const platform = env.api(PLATFORM_TOKEN)
    t.equal((await platform.post(`/v1/platform/tenants/${tenant.id}/outbox/republish`, {})).statusCode, 400, 'a reason is required')
    t.equal((await env.api(tenant.key).post(`/v1/platform/tenants/${tenant.id}/outbox/republish`, { reason: 'x' })).statusCode, 401, 'a tenant key is not the platform token')
    t.equal((await platform.post(`/v1/platform/tenants/ten_${'0'.repeat(32)}/outbox/republish`, { reason: 'x' })).statusCode, 404)
    const res = await platform.post(`/v1/platform/tenants/${tenant.id}/outbox/republish`, { reason: 'dispatch fixed' })
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body, { tenant: tenant.id, object: 'outbox_republish', republished: 2 })
    const audit = await env.admin('audit_log').where({ action: 'outbox.republished', entity_id: tenant.id })
    t.match(audit, [{ actor: 'platform', reason: 'dispatch fixed', after: { republished: 2 } }])

    const r = await publishTenant(env.db, tenant.uuid, o, registry.consumers)
    t.equal(r.published, 2, 'the next turn publishes them')
    const jobs = await dispatchJobs()
    t.same(jobs.flatMap((j) => j.data.data.eventIds).sort(), [...ids].sort())
    t.ok(jobs.every((j) => String(j.id).endsWith(`.p${o.maxPublishes + 1}`)), `under fresh job ids (${jobs.map((j) => j.id).join(', ')})`)
    t.ok((await events(ids)).every((e) => e.publish_count === o.maxPublishes + 1 && e.published_at && !e.dispatched_at))
    await producerQueue('event-dispatch').empty()
  })

  await t.test('dispatch: a consumer that wants none of the batch costs no transaction', async (t) => {
    const ran: string[] = []
    const elsewhere = defineEventConsumer({ name: 'test-elsewhere', interest: async () => ['test.other'], consume: async () => void ran.push('elsewhere') })
    const all = defineEventConsumer({ name: 'test-all', consume: async (_trx, _ctx, batch) => void ran.push(...batch.map((e) => e.id)) })
    const ids = await insertEvents(['test.ok', 'test.ok'])
    const begins: string[] = []
    // This tenant's transactions (the scope travels with BEGIN).
    const count = (q: { sql: string }) => void (/^BEGIN\b/.test(q.sql) && q.sql.includes(tenant.uuid) && begins.push(q.sql))
    env.db.on('query', count)
    try {
      const r = await dispatchEvents({ tenantId: tenant.uuid, jobId: 'test-none', db: env.db }, ids, [elsewhere, all])
      t.match(r, { events: 2, dispatched: 2, ran: { 'test-all': 2 } })
    } finally {
      env.db.off('query', count)
    }
    t.same(ran, ids, 'only the consumer that wants them ran')
    t.equal(begins.length, 2, 'two transactions: reading the batch, and the last consumer (which marks it dispatched)')
    t.equal((await events(ids)).filter((e) => e.dispatched_at).length, 2)
  })

  await t.test('dispatch: a batch per consumer transaction; an event that fails holds up only itself', async (t) => {
    const seen: string[][] = []
    const picky = defineEventConsumer({
      name: 'test-picky',
      consume: async (trx, ctx, batch) => {
        seen.push(batch.map((e) => e.id))
        await trx('consumed_events').where({ tenant_id: ctx.tenantId, consumer: 'test-picky' }).first() // a statement in the batch's transaction
        if (batch.some((e) => e.type === 'test.poison')) throw new Error('poisoned')
      },
    })
    const ids = await insertEvents(['test.ok', 'test.ok', 'test.poison', 'test.ok'])
    const job = { tenantId: tenant.uuid, jobId: 'test', db: env.db }
    await t.rejects(dispatchEvents(job, ids, [picky]), /consumer 'test-picky' failed on 1 of 4 event\(s\).*poisoned/)
    t.same(seen[0], ids, 'first the whole batch, in one call')
    t.same(seen.slice(1), ids.map((id) => [id]), 'then one event at a time')
    const rows = await events(ids)
    t.same(rows.filter((e) => e.dispatched_at).map((e) => e.id).sort(), [ids[0], ids[1], ids[3]].sort(), 'the others are dispatched')
    const consumed = await env.admin('consumed_events').where({ tenant_id: tenant.uuid, consumer: 'test-picky' }).pluck('event_id')
    t.same(consumed.sort(), [ids[0], ids[1], ids[3]].sort(), 'and claimed; the poisoned one is not')
    seen.length = 0
    const again = await dispatchEvents(job, ids, [defineEventConsumer({ ...picky, consume: async (trx, ctx, batch) => void seen.push(batch.map((e) => e.id)) })])
    t.same(seen, [[ids[2]]], 'a retry runs only the event still undispatched')
    t.match(again, { events: 4, skipped: 3, dispatched: 1, ran: { 'test-picky': 1 } })
  })
})

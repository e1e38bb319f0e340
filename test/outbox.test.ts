import pino from 'pino'
import t from 'tap'
import type { Test } from 'tap'
import { APP_ROLE } from '../core/kernel/db/migration-helpers'
import { withTenant } from '../core/kernel/db/tenant'
import { defineEventConsumer } from '../core/events/consumers'
import { emitEvent } from '../core/outbox/outbox'
import { systemContext } from '../core/kernel/context'
import { producerQueue } from '../core/jobs/queues'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker, type Worker, type WorkerOptions } from '../core/jobs/worker'
import { builtInAccess } from '../core/kernel/permissions'
import { setupTestEnv } from './helpers/app'

/**
 * Outbox durability against real Redis and Postgres. This file's Redis is a database of its own
 * (FLUSHDB and killed connections must not disturb other test files running in parallel).
 */
const REDIS_DB = 9
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 30000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

// Two consumers; each effect is a row in test_effects (no unique key, so a duplicate would show).
// They get events in batches (one transaction per batch).
const crashed = new Set<string>()
let hang: { reached: () => void; release: Promise<void> } | null = null
const effects = defineEventConsumer({
  name: 'test-effects',
  consume: async (trx, ctx, events) => {
    await trx('test_effects').insert(events.map((event) => ({ tenant_id: ctx.tenantId, consumer: 'test-effects', event_id: event.id, type: event.type })))
    const crash = events.find((event) => event.type === 'test.crash' && !crashed.has(event.id))
    if (crash) {
      crashed.add(crash.id)
      throw new Error('worker crashed after the effect (rolled back)')
    }
    if (hang && events.some((event) => event.type === 'test.hang')) {
      const h = hang
      hang = null
      h.reached()
      await h.release
    }
  },
})
const second = defineEventConsumer({
  name: 'test-second',
  consume: async (trx, ctx, events) => {
    await trx('test_effects').insert(events.map((event) => ({ tenant_id: ctx.tenantId, consumer: 'test-second', event_id: event.id, type: event.type })))
  },
})

t.test('outbox', async (t) => {
  const env = await setupTestEnv(t, { REDIS_URL: `redis://127.0.0.1:6379/${REDIS_DB}`, DB_POOL_MAX: 30 })
  await env.admin.raw(`create table test_effects (tenant_id uuid not null, consumer text not null, event_id text not null, type text not null)`)
  await env.admin.raw(`grant select, insert on test_effects to ${APP_ROLE}`)
  const log = pino({ level: 'silent' })
  const fast: WorkerOptions = {
    relay: { sweepEveryMs: 200, republishAfterMs: 1500, idleRoundMs: 20 },
    lockDurationMs: 1500,
    stalledIntervalMs: 300,
    scheduleCheckMs: 500,
    sweeps: false,
  }
  const workers: Worker[] = []
  const start = async (options: WorkerOptions = {}) => {
    const registry = workerRegistry(env.config, { extra: { consumers: [effects, second] } })
    const w = await startWorker({ config: env.config, db: env.db, log, registry, options: { ...fast, ...options } })
    workers.push(w)
    return w
  }
  t.teardown(async () => {
    for (const w of workers) await w.close()
    await env.redis.flushdb()
  })
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const ctx = systemContext(tenant.uuid, builtInAccess('admin'), 'test')
  const emit = (type: string) => withTenant(env.db, tenant.uuid, (trx) => emitEvent(trx, ctx, type, { test: true }))
  const createCustomers = async (n: number, from: number) => {
    for (let i = 0; i < n; i += 5) {
      await Promise.all(
        Array.from({ length: Math.min(5, n - i) }, async (_, j) => {
          const res = await api.post('/v1/customers', { name: `Customer ${from + i + j}` })
          if (res.statusCode !== 201) throw new Error(res.raw)
        }),
      )
    }
  }
  const undispatched = async () => Number((await env.admin('events').where({ tenant_id: tenant.uuid }).whereNull('dispatched_at').count({ n: '*' }).first())!.n)
  /** Every event of the tenant took effect exactly once per consumer. */
  const exactlyOnce = async (t: Test) => {
    const events = Number((await env.admin('events').where({ tenant_id: tenant.uuid }).count({ n: '*' }).first())!.n)
    const { rows } = await env.admin.raw(
      `select consumer, count(*)::int as effects, count(distinct event_id)::int as events from test_effects where tenant_id = ? group by consumer order by consumer`,
      [tenant.uuid],
    )
    t.same(rows, [
      { consumer: 'test-effects', effects: events, events },
      { consumer: 'test-second', effects: events, events },
    ], `${events} events, each consumed exactly once per consumer`)
    const consumed = Number((await env.admin('consumed_events').where({ tenant_id: tenant.uuid }).whereIn('consumer', ['test-effects', 'test-second']).count({ n: '*' }).first())!.n)
    t.equal(consumed, events * 2, 'one consumed_events row per event and consumer')
  }

  await t.test('LISTEN/NOTIFY wakes the relay at commit', async (t) => {
    const w = await start({ relay: { sweepEveryMs: 60000 } }) // no sweep to fall back on
    await until('the start-up sweep to settle', async () => (await undispatched()) === 0)
    const created = Date.now()
    await createCustomers(1, 0)
    await until('the event to be dispatched', async () => (await undispatched()) === 0, 30000)
    // The sweep runs every 60 s here: dispatched well before it means the notification woke the
    // relay (a mechanism check, not a speed bound, so a busy machine cannot fail it).
    t.ok(Date.now() - created < 30000, `dispatched ${Date.now() - created} ms after commit, before any sweep`)
    await w.close()
  })

  let worker = await start()

  await t.test('Redis flushed mid-way: every event delivered, each effect once', async (t) => {
    const creating = createCustomers(40, 100)
    await sleep(150)
    await env.redis.flushdb()
    await sleep(150)
    await env.redis.flushdb()
    await creating
    await until('every event dispatched', async () => (await undispatched()) === 0)
    await exactlyOnce(t)

    // Deterministically: events published to Redis and lost there before any worker took them are
    // published again by the relay (and only then dispatched).
    const republished = async () => Number((await env.admin('events').where({ tenant_id: tenant.uuid }).where('publish_count', '>', 1).count({ n: '*' }).first())!.n)
    const before = await republished()
    await worker.close()
    const relayOnly = await start({ types: [] }) // publishes, processes nothing
    await createCustomers(10, 200)
    const lost = await env.admin('events').where({ tenant_id: tenant.uuid }).whereNull('dispatched_at').select('id', 'publish_count')
    t.equal(lost.length, 10, 'ten new events, none dispatched')
    await until('the ten events published', async () =>
      Number((await env.admin('events').where({ tenant_id: tenant.uuid }).whereNull('dispatched_at').whereNotNull('published_at').count({ n: '*' }).first())!.n) === 10,
    )
    // published_at is committed as the jobs are added: on a loaded machine the last adds can trail it.
    const queued = async () => {
      const q = producerQueue('event-dispatch')
      return (await q.getWaitingCount()) + (await q.getDelayedCount())
    }
    t.ok(await until('their dispatch jobs wait in Redis', async () => (await queued()) > 0).catch(() => false), 'their dispatch jobs wait in Redis')
    await relayOnly.close()
    await env.redis.flushdb() // … and are lost with it
    worker = await start()
    await until('every event dispatched', async () => (await undispatched()) === 0)
    const after = await env.admin('events').whereIn('id', lost.map((e) => e.id)).select('id', 'publish_count')
    t.ok(after.every((e) => e.publish_count >= 2), `each lost event was published again (publish counts ${after.map((e) => e.publish_count).join(', ')})`)
    t.ok((await republished()) - before >= 10, 'republishing shows in publish_count')
    await exactlyOnce(t)
  })

  await t.test('every Redis connection killed mid-way (a restart): every event delivered once', async (t) => {
    const myId = await env.redis.client('ID')
    const killAll = async () => {
      const list = String(await env.redis.client('LIST')).split('\n').filter(Boolean)
      let killed = 0
      for (const line of list) {
        const f = Object.fromEntries(line.split(' ').map((kv) => kv.split('=')))
        if (f.db === String(REDIS_DB) && f.id !== String(myId)) {
          await env.redis.client('KILL', 'ID', f.id).catch(() => undefined)
          killed++
        }
      }
      return killed
    }
    await createCustomers(10, 300)
    t.ok((await killAll()) > 0, 'connections killed')
    await createCustomers(10, 400)
    // The relay's own connection, alone.
    ;(producerQueue('event-dispatch').client as unknown as { disconnect(reconnect: boolean): void }).disconnect(true)
    await createCustomers(10, 500)
    await until('every event dispatched', async () => (await undispatched()) === 0)
    await exactlyOnce(t)
  })

  await t.test('a consumer that crashes after its effect: rolled back, retried, once', async (t) => {
    const id = await emit('test.crash')
    await until('the event dispatched', async () => (await env.admin('events').where({ id }).first()).dispatched_at)
    t.ok(crashed.has(id), 'the first attempt crashed')
    t.same((await env.admin('test_effects').where({ event_id: id }).orderBy('consumer')).map((r: any) => r.consumer), ['test-effects', 'test-second'])
  })

  await t.test('a worker killed mid-job: another takes the stalled job over, the effect happens once', async (t) => {
    await worker.close()
    const a = await start({ closeGraceMs: 100, lockDurationMs: 1000 })
    let reached!: () => void
    const reachedP = new Promise<void>((r) => (reached = r))
    let release!: () => void
    hang = { reached, release: new Promise<void>((r) => (release = r)) }
    const id = await emit('test.hang')
    await reachedP // worker A is inside the consumer, its effect not yet committed
    const jobId = `${tenant.uuid}:${id}`
    const firstRun = (await producerQueue('event-dispatch').getJob(jobId))!.processedOn
    await a.close() // "killed": it stops renewing the job's lock
    const b = await start()
    await until('worker B to take the stalled job over', async () => {
      const j = await producerQueue('event-dispatch').getJob(jobId)
      return j && j.processedOn !== firstRun && (await j.isActive())
    })
    t.pass('the stalled job runs again, on worker B')
    await sleep(1500) // B now waits on A's claim of (tenant, consumer, event)
    release() // A's transaction commits its effect after all
    await until('the event dispatched', async () => (await env.admin('events').where({ id }).first()).dispatched_at)
    t.same((await env.admin('test_effects').where({ event_id: id }).orderBy('consumer')).map((r: any) => r.consumer), ['test-effects', 'test-second'], 'each consumer’s effect once')
    await until('all events dispatched', async () => (await undispatched()) === 0)
    await exactlyOnce(t)
    await b.close()
  })
})

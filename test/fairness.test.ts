import pino from 'pino'
import t from 'tap'
import { withTenant } from '../core/kernel/db/tenant'
import { defineEventConsumer } from '../core/events/consumers'
import { newId } from '../core/kernel/ids'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker } from '../core/jobs/worker'
import { setupTestEnv } from './helpers/app'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// A consumer that takes a while, so a flood takes long to drain: 3,000 events × 20 ms over the
// worker's dispatch slots is several seconds of work a FIFO queue would put ahead of anyone else.
// (Events come in batches: the consumer takes 20 ms per event of its batch.)
const CONSUMER_MS = 20
const slow = defineEventConsumer({
  name: 'test-slow',
  consume: async (_trx, _ctx, events) => {
    await sleep(CONSUMER_MS * events.length)
  },
})

t.test('fairness: one tenant’s flood does not delay another tenant’s events', async (t) => {
  const env = await setupTestEnv(t, { DB_POOL_MAX: 40 })
  const worker = await startWorker({
    config: env.config,
    db: env.db,
    log: pino({ level: 'silent' }),
    registry: workerRegistry(env.config, { extra: { consumers: [slow] } }),
    options: { relay: { sweepEveryMs: 1000 }, sweeps: false, schedules: false },
  })
  t.teardown(async () => {
    await worker.close()
    const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
    if (keys.length) await env.redis.del(...keys)
  })
  const a = await env.tenant({ name: 'Flood' })
  const b = await env.tenant({ name: 'Quiet' })
  const dispatched = async (tenantId: string) =>
    Number((await env.admin('events').where({ tenant_id: tenantId }).whereNotNull('dispatched_at').count({ n: '*' }).first())!.n)

  // Tenant A commits 3,000 events at once (as the runtime role, in its tenant transaction).
  const FLOOD = 3000
  await withTenant(env.db, a.uuid, (trx) =>
    trx.batchInsert(
      'events',
      Array.from({ length: FLOOD }, (_, i) => ({ tenant_id: a.uuid, id: newId('evt'), type: 'customer.updated', data: JSON.stringify({ object: { n: i } }) })),
      500,
    ),
  )
  await sleep(200) // the flood is being published
  // Tenant B's one event right after, through the API.
  const res = await env.api(b.key).post('/v1/customers', { name: 'Single' })
  t.equal(res.statusCode, 201)
  const event = await env.admin('events').where({ tenant_id: b.uuid, type: 'customer.created' }).first()

  const deadline = Date.now() + 20000
  let row = event
  while (!row.dispatched_at && Date.now() < deadline) {
    await sleep(20)
    row = await env.admin('events').where({ tenant_id: b.uuid, id: event.id }).first()
  }
  t.ok(row.dispatched_at, 'tenant B’s event was dispatched')
  const latencyMs = row.dispatched_at.getTime() - row.created_at.getTime()
  const floodDone = await dispatched(a.uuid)
  t.ok(latencyMs < 5000, `tenant B’s event dispatched ${latencyMs} ms after commit (bound: 5,000)`)
  t.ok(floodDone < FLOOD, `while tenant A’s flood was still draining (${floodDone} of ${FLOOD} dispatched)`)

  // The flood drains completely, each event once.
  const drainDeadline = Date.now() + 120000
  while ((await dispatched(a.uuid)) < FLOOD && Date.now() < drainDeadline) await sleep(200)
  t.equal(await dispatched(a.uuid), FLOOD, 'the whole flood was dispatched')
  const consumed = Number((await env.admin('consumed_events').where({ tenant_id: a.uuid, consumer: 'test-slow' }).count({ n: '*' }).first())!.n)
  t.equal(consumed, FLOOD, 'each once')
})

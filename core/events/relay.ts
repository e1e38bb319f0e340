import pg from 'pg'
import type { Logger } from 'pino'
import { appDatabaseUrl, type Config } from '../kernel/config'
import type { Db, Trx } from '../kernel/db/knex'
import { isUuid, withTenant } from '../kernel/db/tenant'
import { getJobSettings } from '../jobs/controls'
import { enqueueMany, forgetFinishedJobs } from '../jobs/queues'
import { forEachTenant } from '../jobs/tenants'
import { relayMetrics } from '../ops/metrics'
import { EVENT_DISPATCH } from './dispatch'

/**
 * The outbox relay: hands committed events to Bull as `event-dispatch` jobs and marks them
 * published in the same transaction that selected them (FOR UPDATE SKIP LOCKED, so relays on
 * several workers never take the same rows). Events published but not dispatched by a deadline are
 * published again; the job id is the event id, so a job still in Redis is never duplicated, and
 * consumers dedupe anyway, so losing Redis loses and duplicates nothing.
 *
 * Wake-ups: LISTEN 'outbox' (a trigger notifies with the tenant id at commit) for low latency, and
 * a sweep over the tenant directory as the safety net (missed notifications, republishing).
 *
 * Fairness: tenants with work take turns (round-robin); each turn publishes at most
 * `batchPerTenant` events, and a tenant never has more than `maxInFlightPerTenant` events published
 * but not dispatched, so a tenant's flood waits in its own outbox instead of ahead of everyone
 * else's events in the queue.
 */

export interface RelayOptions {
  /** Events one tenant publishes per turn. */
  batchPerTenant: number
  /** Events of one tenant published but not yet dispatched, at most. */
  maxInFlightPerTenant: number
  /** Published events not dispatched after this long are published again. */
  republishAfterMs: number
  /** Publications of one event at most (then it stays for an operator: see the dead letters). */
  maxPublishes: number
  /** The directory sweep's period. */
  sweepEveryMs: number
  /** Tenants served at once within a round. */
  concurrency: number
  /** Pause between rounds that published nothing while tenants still wait (at their in-flight cap). */
  idleRoundMs: number
}

export const RELAY_DEFAULTS: RelayOptions = {
  batchPerTenant: 50,
  maxInFlightPerTenant: 200,
  republishAfterMs: 30_000,
  maxPublishes: 10,
  sweepEveryMs: 5_000,
  concurrency: 4,
  idleRoundMs: 50,
}

export interface Relay {
  /** Queue a tenant for the next round. */
  wake(tenantId: string): void
  /** One sweep over the directory (normally periodic). */
  sweep(): Promise<void>
  stop(): Promise<void>
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * One tenant's turn, in one tenant transaction: republish what is overdue, publish new events up
 * to the in-flight cap, mark them. Returns how many were published and whether more are waiting.
 */
export async function publishTenant(db: Db, tenantId: string, o: RelayOptions): Promise<{ published: number; more: boolean }> {
  return withTenant(db, tenantId, async (trx: Trx) => {
    if ((await getJobSettings(trx, tenantId)).paused) return { published: 0, more: false }
    const overdue: { id: string }[] = await trx('events')
      .where({ tenant_id: tenantId })
      .whereNull('dispatched_at')
      .where('published_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [o.republishAfterMs / 1000]))
      .where('publish_count', '<', o.maxPublishes)
      .orderBy('published_at')
      .limit(o.batchPerTenant)
      .forUpdate()
      .skipLocked()
      .select('id')
    const { rows } = await trx.raw(
      `select count(*)::int as n from (
         select 1 from events where tenant_id = ? and dispatched_at is null and published_at is not null and publish_count < ? limit ?) f`,
      [tenantId, o.maxPublishes, o.maxInFlightPerTenant],
    )
    const room = Math.max(0, Math.min(o.batchPerTenant, o.maxInFlightPerTenant - rows[0].n))
    const fresh: { id: string }[] = room
      ? await trx('events')
          .where({ tenant_id: tenantId })
          .whereNull('dispatched_at')
          .whereNull('published_at')
          .orderBy('created_at')
          .limit(room)
          .forUpdate()
          .skipLocked()
          .select('id')
      : []
    const ids = [...overdue, ...fresh].map((e) => e.id)
    if (ids.length) {
      // An overdue event whose dispatch job failed for good would otherwise never be re-added.
      await forgetFinishedJobs(EVENT_DISPATCH, tenantId, overdue.map((e) => e.id))
      await enqueueMany(EVENT_DISPATCH, ids.map((id) => ({ tenantId, data: { eventId: id }, jobId: id })))
      await trx('events')
        .where({ tenant_id: tenantId })
        .whereIn('id', ids)
        .update({ published_at: trx.fn.now(), publish_count: trx.raw('publish_count + 1') })
      relayMetrics.published.inc({ kind: 'new' }, fresh.length)
      if (overdue.length) relayMetrics.published.inc({ kind: 'republished' }, overdue.length)
    }
    let more = overdue.length === o.batchPerTenant || (room > 0 && fresh.length === room)
    if (!more && room === 0) {
      // At the in-flight cap: stay in the rotation while new events wait.
      more = !!(await trx('events').where({ tenant_id: tenantId }).whereNull('dispatched_at').whereNull('published_at').first(trx.raw('1')))
    }
    return { published: ids.length, more }
  })
}

/** Whether a tenant has events to publish or republish now (the sweep's probe). */
async function hasWork(db: Db, tenantId: string, o: RelayOptions): Promise<boolean> {
  return withTenant(db, tenantId, async (trx) => {
    const undispatched = () => trx('events').where({ tenant_id: tenantId }).whereNull('dispatched_at')
    if (await undispatched().whereNull('published_at').first(trx.raw('1'))) return true
    const overdue = await undispatched()
      .where('published_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [o.republishAfterMs / 1000]))
      .where('publish_count', '<', o.maxPublishes)
      .first(trx.raw('1'))
    return !!overdue
  })
}

export async function startRelay({ config, db, log, options = {} }: { config: Config; db: Db; log: Logger; options?: Partial<RelayOptions> }): Promise<Relay> {
  const o: RelayOptions = { ...RELAY_DEFAULTS, ...options }
  const active = new Set<string>() // insertion order is the rotation
  let stopped = false
  let wakeUp: (() => void) | null = null
  const signal = () => {
    wakeUp?.()
    wakeUp = null
  }

  function wake(tenantId: string): void {
    if (!isUuid(tenantId)) return
    active.add(tenantId)
    signal()
  }

  // LISTEN on a dedicated connection (the runtime role; outside the pool), reconnecting with backoff.
  let listener: pg.Client | null = null
  let listenRetry: NodeJS.Timeout | null = null
  async function listen(attempt = 0): Promise<void> {
    if (stopped) return
    const client = new pg.Client({ connectionString: appDatabaseUrl(config), application_name: 'receivables-relay' })
    client.on('notification', (msg) => {
      if (msg.channel === 'outbox' && msg.payload) wake(msg.payload)
    })
    client.on('error', (err) => {
      log.warn({ err }, 'outbox listener lost its connection; reconnecting')
      client.end().catch(() => undefined)
      if (listener === client) listener = null
      scheduleListen(0)
    })
    try {
      await client.connect()
      await client.query('listen outbox')
      if (stopped) return void (await client.end())
      listener = client
      void sweep() // notifications may have been missed while disconnected
    } catch (err) {
      client.end().catch(() => undefined)
      log.warn({ err }, 'outbox listener cannot connect; retrying')
      scheduleListen(attempt + 1)
    }
  }
  function scheduleListen(attempt: number) {
    if (stopped || listenRetry) return
    listenRetry = setTimeout(() => {
      listenRetry = null
      void listen(attempt)
    }, Math.min(500 * 2 ** attempt, 10_000))
  }

  let sweeping: Promise<void> | null = null
  function sweep(): Promise<void> {
    sweeping ??= forEachTenant(
      db,
      async (tenantId) => {
        if (!active.has(tenantId) && (await hasWork(db, tenantId, o))) wake(tenantId)
      },
      { concurrency: o.concurrency, stop: () => stopped, onError: (tenantId, err) => log.warn({ err, tenantId }, 'outbox sweep failed for a tenant') },
    )
      .then(() => undefined)
      .catch((err) => log.error({ err }, 'outbox sweep failed'))
      .finally(() => {
        sweeping = null
      })
    return sweeping
  }
  const sweepTimer = setInterval(() => void sweep(), o.sweepEveryMs)
  sweepTimer.unref()

  async function round(): Promise<number> {
    const turn = [...active]
    active.clear()
    let published = 0
    let next = 0
    await Promise.all(
      Array.from({ length: Math.min(o.concurrency, turn.length) }, async () => {
        while (next < turn.length && !stopped) {
          const tenantId = turn[next++]
          try {
            const r = await publishTenant(db, tenantId, o)
            published += r.published
            if (r.more) active.add(tenantId)
          } catch (err) {
            // Redis or Postgres trouble: nothing was marked; the sweep brings the tenant back.
            log.warn({ err, tenantId }, 'publishing a tenant’s events failed')
            relayMetrics.errors.inc()
          }
        }
      }),
    )
    return published
  }

  const loop = (async () => {
    while (!stopped) {
      if (!active.size) {
        await new Promise<void>((r) => {
          wakeUp = r
          setTimeout(r, o.sweepEveryMs).unref()
        })
        continue
      }
      const published = await round()
      if (!published && active.size && !stopped) await sleep(o.idleRoundMs)
    }
  })()

  await listen()
  void sweep()
  log.info(o, 'outbox relay started')

  return {
    wake,
    sweep,
    async stop() {
      stopped = true
      clearInterval(sweepTimer)
      if (listenRetry) clearTimeout(listenRetry)
      signal()
      await loop
      await sweeping
      await listener?.end().catch(() => undefined)
      listener = null
    },
  }
}

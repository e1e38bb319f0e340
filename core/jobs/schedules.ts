import type Redis from 'ioredis'
import type { Logger } from 'pino'
import type { Db } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { getTenant } from '../../tenants/service'
import { jobDatabase, jobDefinition, producerQueue, withTimeout, ENQUEUE_TIMEOUT_MS, type JobEnvelope } from './queues'
import { forEachTenant } from './tenants'

/**
 * Per-tenant repeatable schedules (Bull repeat with a cron in the tenant's timezone, one job id per
 * tenant and schedule, so adding it again is a no-op). The scheduler registers them for every tenant
 * in the directory at start and for new tenants as they appear; a cursor in Redis remembers when it
 * last looked, so when Redis loses its data (the schedules with it) the cursor is gone too and every
 * tenant's schedules are rebuilt.
 */

export interface TenantSchedule {
  name: string
  type: string
  cron: string
  data: unknown
}

/**
 * E.g. `export const nightly = defineTenantSchedule({ name: 'nightly-reconciliation', type: 'reconciliation', cron: '0 2 * * *', data: { trigger: 'nightly' } })`;
 * registered nowhere: the worker's registry (core/jobs/registry.ts) lists the schedules it keeps.
 */
export function defineTenantSchedule(s: TenantSchedule): TenantSchedule {
  if (!s.name || s.name.includes(':')) throw new Error(`schedule '${s.name}': invalid name`)
  return s
}

/** The schedule's repeat id: no ':' (Bull splits repeat keys on it). */
export function scheduleId(tenantId: string, name: string): string {
  return `${tenantId}.${name}`
}

/** Adds (idempotently) every schedule of one tenant, in its timezone. */
export async function ensureTenantSchedules(db: Db, tenantId: string, schedules: readonly TenantSchedule[]): Promise<void> {
  if (!schedules.length) return
  const { timezone } = await withTenant(db, tenantId, (trx) => getTenant(trx, tenantId))
  for (const s of schedules) {
    const def = jobDefinition(s.type)
    const envelope: JobEnvelope = { tenantId, data: s.data, database: await jobDatabase() }
    await withTimeout(
      producerQueue(s.type).add(envelope, {
        repeat: { cron: s.cron, tz: timezone },
        jobId: scheduleId(tenantId, s.name),
        attempts: def.attempts,
        backoff: { type: 'job' },
        timeout: def.timeoutMs,
      }),
      ENQUEUE_TIMEOUT_MS,
      `schedule ${s.name}`,
    )
  }
}

export interface Scheduler {
  /** One pass: every tenant when the cursor is gone, else the tenants created since it. */
  check(): Promise<number>
  stop(): Promise<void>
}

/** Tenants are looked for this far before the cursor: a createTenant transaction that began earlier may commit later. */
const LOOKBACK_MS = 10 * 60_000

export function startScheduler({ db, log, prefix, schedules, checkEveryMs = 60000 }: { db: Db; log: Logger; prefix: string; schedules: readonly TenantSchedule[]; checkEveryMs?: number }): Scheduler {
  const names = new Set<string>()
  for (const s of schedules) {
    if (names.has(s.name)) throw new Error(`schedule '${s.name}' is already defined`)
    names.add(s.name)
  }
  const cursorKey = `${prefix}:tenant-schedules:cursor`
  let stopped = false
  let running: Promise<number> | null = null

  async function pass(): Promise<number> {
    if (!schedules.length) return 0
    const redis = producerQueue(schedules[0].type).client as unknown as Redis
    const startedAt: Date = (await db.raw('select now() as now')).rows[0].now
    const cursor = await redis.get(cursorKey)
    if (!cursor) log.info('registering the schedules of every tenant')
    let failed = 0
    const count = await forEachTenant(db, (tenantId) => ensureTenantSchedules(db, tenantId, schedules), {
      createdSince: cursor ? new Date(Date.parse(cursor) - LOOKBACK_MS) : undefined,
      stop: () => stopped,
      onError: (tenantId, err) => {
        failed++
        log.error({ err, tenantId }, 'registering tenant schedules failed; retried next pass')
      },
    })
    if (!failed && !stopped) await redis.set(cursorKey, startedAt.toISOString())
    return count
  }

  function check(): Promise<number> {
    running ??= pass().finally(() => {
      running = null
    })
    return running
  }

  const timer = setInterval(() => {
    check().catch((err) => log.error({ err }, 'schedule check failed'))
  }, checkEveryMs)
  timer.unref()
  check().catch((err) => log.error({ err }, 'schedule check failed'))

  return {
    check,
    async stop() {
      stopped = true
      clearInterval(timer)
      await running?.catch(() => undefined)
    },
  }
}

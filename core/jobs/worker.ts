import Queue from 'bull'
import type Redis from 'ioredis'
import type { Logger } from 'pino'
import type { Config } from '../kernel/config'
import type { Db } from '../kernel/db/knex'
import { isUuid, withTenant } from '../kernel/db/tenant'
import { databaseIdentity } from '../kernel/db/identity'
import { jobMetrics } from '../ops/metrics'
import { startRelay, type Relay, type RelayOptions } from '../events/relay'
import { cachedJobSettings, getJobSettings } from './controls'
import { closeProducers, configureJobs, jobDefinitionMap, jobOptions, JobOutcomeFailed, queueOptions, type JobContext, type JobDefinition, type JobEnvelope } from './queues'
import { workerRegistry, type JobRegistry } from './registry'
import { startScheduler, type Scheduler } from './schedules'
import { startSweeps } from './sweeps'
import { acquireSlot, releaseSlot, slotKey } from './slots'
import { createPluginRuntime, currentPluginRuntime, pluginRuntimeOptions, releasePluginRuntime, usePluginRuntime, type PluginRuntime } from '../kernel/plugins/runtime'
import { configureDataKeys } from '../privacy/keys'

export interface Worker {
  /** The heartbeat queue first, then one processing queue per job type. */
  queues: Queue.Queue[]
  relay: Relay | null
  scheduler: Scheduler | null
  close(): Promise<void>
}

export interface WorkerOptions {
  /** A job's lock; a worker that stops renewing it (killed) loses the job to the stalled check. */
  lockDurationMs?: number
  /** How often stalled jobs (lock expired while active) are moved back to waiting. */
  stalledIntervalMs?: number
  /** Stalls tolerated before the job is failed (dead-lettered). */
  maxStalledCount?: number
  /** close() waits this long for running jobs, then releases them (their locks expire). */
  closeGraceMs?: number
  /** Job types to process (default: every type of the registry). */
  types?: string[]
  /** Outbox relay settings, or false to run none. */
  relay?: Partial<RelayOptions> | false
  /** Keep per-tenant repeatable schedules (default true), checked this often. */
  schedules?: boolean
  scheduleCheckMs?: number
  /** Run the per-tenant safety-net sweeps (default true); every `sweepEveryMs` instead of their own periods. */
  sweeps?: boolean
  sweepEveryMs?: number
}

export const HEARTBEAT_EVERY_MS = 30000
const DEFAULTS = { lockDurationMs: 30000, stalledIntervalMs: 30000, maxStalledCount: 1, closeGraceMs: 10000, scheduleCheckMs: 60000 }
/** A paused tenant's job is put back with growing delays up to this. */
const PAUSED_MAX_DELAY_MS = 30000
/** A job of another database is put back with growing delays (from 500 ms) up to this. */
const FOREIGN_MAX_DELAY_MS = 10000

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

/**
 * Starts the job processors, the outbox relay, the sweeps and the per-tenant schedules of the
 * registry it is given (default: `workerRegistry(config)`, the explicit list of core/jobs/registry.ts). A heartbeat proves
 * Redis, Bull and Postgres are reachable: one beat runs at start (so a broken worker shows at boot),
 * then one every `HEARTBEAT_EVERY_MS` per deployment (the repeatable job is keyed, so replicas share
 * it instead of multiplying it).
 */
export async function startWorker({
  config,
  db,
  log,
  registry = workerRegistry(config),
  options = {},
  plugins,
}: {
  config: Config
  db: Db
  log: Logger
  registry?: JobRegistry
  options?: WorkerOptions
  /**
   * The process's plugin runtime (containment pool) for jobs that run plugin code or rules; its maker
   * closes it. Default: the one already in use in this process (an app's), else one of its own,
   * closed with the worker.
   */
  plugins?: PluginRuntime
}): Promise<Worker> {
  const opts = { ...DEFAULTS, ...options }
  const ownPlugins = plugins || currentPluginRuntime() ? null : await createPluginRuntime(pluginRuntimeOptions(config, (m) => log.warn(m)))
  const runtime = plugins ?? currentPluginRuntime() ?? ownPlugins!
  usePluginRuntime(runtime)
  const definitions = jobDefinitionMap(registry.jobs)
  configureJobs({ redisUrl: config.REDIS_URL, prefix: config.QUEUE_PREFIX, db, log, jobs: registry.jobs })
  configureDataKeys(config)
  const ownDatabase = await databaseIdentity(db)

  const heartbeat = new Queue('heartbeat', config.REDIS_URL, queueOptions(config.QUEUE_PREFIX))
  heartbeat.on('failed', (_job, err) => log.error({ err }, 'heartbeat failed'))
  heartbeat.on('error', (err) => log.error({ err }, 'heartbeat queue error'))
  heartbeat
    .process(async () => {
      await db.raw('select 1')
      return { at: new Date().toISOString() }
    })
    .catch(() => undefined) // resolves at close; a failure is already emitted as 'error' above
  await heartbeat.add({}, { repeat: { every: HEARTBEAT_EVERY_MS }, jobId: 'heartbeat' })
  await heartbeat.add({})

  const processing = (opts.types ?? [...definitions.keys()].sort()).map((type) => {
    const def = definitions.get(type)
    if (!def) throw new Error(`unknown job type '${type}' (not in the worker's registry)`)
    return startProcessor(def)
  })

  function startProcessor(def: JobDefinition): Queue.Queue {
    const queue = new Queue(def.type, config.REDIS_URL, {
      ...queueOptions(config.QUEUE_PREFIX),
      settings: {
        lockDuration: opts.lockDurationMs,
        stalledInterval: opts.stalledIntervalMs,
        maxStalledCount: opts.maxStalledCount,
        backoffStrategies: { job: (attemptsMade: number, err: Error) => Math.max(0, Math.round(def.backoff(attemptsMade, err))) },
      },
    })
    queue.on('error', (err) => log.error({ err, queue: def.type }, 'queue error'))
    queue.on('stalled', (job) => log.warn({ queue: def.type, jobId: job.id }, 'stalled job recovered'))
    queue.on('failed', (job, err) => {
      const dead = job.attemptsMade >= (job.opts.attempts ?? 1)
      jobMetrics.processed.inc({ queue: def.type, outcome: dead ? 'dead_lettered' : 'failed' })
      log[dead ? 'error' : 'warn']({ err, queue: def.type, jobId: job.id, attemptsMade: job.attemptsMade }, dead ? 'job dead-lettered' : 'job attempt failed')
    })
    guardDatabase(def, queue)
    queue.process(def.concurrency, (job) => runJob(def, queue, job)).catch(() => undefined) // resolves at close
    return queue
  }

  /**
   * Deployments sharing a Redis and a queue prefix share the queues, so this worker can take a job
   * of another database. Such a job is refused before Bull starts processing it: it is moved, still
   * under this worker's lock, from active back to delayed (Bull's own moveToDelayed script) with its
   * attempts untouched, so it is neither completed nor failed, and its owner's workers take it when
   * it is due. Reported as a warning and `jobs_processed_total{outcome="refused_foreign_database"}`.
   * (Bull offers no hook between taking a job and running it, hence the wrapped processJob.)
   */
  function guardDatabase(def: JobDefinition, queue: Queue.Queue): void {
    const q = queue as unknown as { processJob(job: Queue.Job | null, notFetch?: boolean): Promise<unknown> }
    const processJob = q.processJob
    q.processJob = (job, notFetch) => {
      const database = (job?.data as JobEnvelope | undefined)?.database
      if (!job || database === undefined || database === ownDatabase) return processJob(job, notFetch)
      return refuseForeign(def, job, database).then(
        () => null,
        (err) => {
          log.error({ err, queue: def.type, jobId: job.id }, 'could not put back a job of another database (its lock expires and it is retried)')
          return null
        },
      )
    }
  }

  async function refuseForeign(def: JobDefinition, job: Queue.Job, database: string): Promise<void> {
    const envelope = job.data as JobEnvelope
    const refusals = (envelope.refusals ?? 0) + 1
    const delayMs = Math.min(250 * 2 ** Math.min(refusals, 10), FOREIGN_MAX_DELAY_MS)
    await job.update({ ...envelope, refusals })
    // Checks this worker's lock (the queue's token) as it moves the job; not in Bull's typings.
    await (job as unknown as { moveToDelayed(timestamp: number, ignoreLock?: boolean): Promise<void> }).moveToDelayed(Date.now() + delayMs)
    jobMetrics.processed.inc({ queue: def.type, outcome: 'refused_foreign_database' })
    log.warn(
      { queue: def.type, jobId: job.id, jobDatabase: database, ownDatabase, refusals, delayMs },
      'refused a job of another database (same Redis and queue prefix): put back for its owner, not run',
    )
  }

  async function runJob(def: JobDefinition, queue: Queue.Queue, job: Queue.Job): Promise<unknown> {
    const envelope = job.data as JobEnvelope
    if (!envelope || typeof envelope.tenantId !== 'string' || !isUuid(envelope.tenantId)) {
      job.discard() // no retry can give it a tenant
      throw new Error('the job carries no tenant')
    }
    const { tenantId } = envelope
    const attemptsUsed = (envelope.attemptsUsed ?? 0) + job.attemptsMade
    if (attemptsUsed === 0 && !envelope.deferrals && job.processedOn) {
      jobMetrics.wait.observe({ queue: def.type }, Math.max(0, job.processedOn - job.timestamp - (job.opts.delay ?? 0)) / 1000)
    }
    const settings = await cachedJobSettings(tenantId, () => withTenant(db, tenantId, (trx) => getJobSettings(trx, tenantId)))
    if (settings.paused) {
      const n = envelope.deferrals ?? 0
      return defer(def, queue, job, Math.min(1000 * 2 ** Math.min(n, 10), PAUSED_MAX_DELAY_MS), 'tenant_paused')
    }
    const cap = settings.concurrency ?? Math.max(1, Math.ceil(def.concurrency / 2))
    const key = slotKey(config.QUEUE_PREFIX, def.type, tenantId)
    const member = String(job.id)
    const redis = queue.client as unknown as Redis
    if (!(await acquireSlot(redis, key, cap, def.timeoutMs + 30000, member))) {
      return defer(def, queue, job, 100 + Math.floor(Math.random() * 400), 'tenant_at_capacity')
    }
    const ctx: JobContext = { tenantId, db, jobId: member, attemptsMade: attemptsUsed, log: log.child({ queue: def.type, jobId: member, tenantId }) }
    const end = jobMetrics.duration.startTimer({ queue: def.type })
    try {
      const result = await def.handler(envelope.data, ctx)
      jobMetrics.processed.inc({ queue: def.type, outcome: 'completed' })
      return result ?? null
    } catch (err) {
      if (err instanceof JobOutcomeFailed) job.discard() // recorded and rescheduled by the handler: failed, not retried
      throw err
    } finally {
      end()
      await releaseSlot(redis, key, member).catch((err) => log.warn({ err, key }, 'releasing a tenant slot failed (it expires with its lease)'))
    }
  }

  /**
   * Puts the job back, delayed, as a new copy (Bull 4 cannot delay an active job without failing
   * it, which would spend an attempt): the copy carries the attempts already used.
   */
  async function defer(def: JobDefinition, queue: Queue.Queue, job: Queue.Job, delayMs: number, reason: string) {
    const envelope = job.data as JobEnvelope
    const deferrals = (envelope.deferrals ?? 0) + 1
    const baseId = envelope.baseId ?? String(job.id)
    const attemptsUsed = (envelope.attemptsUsed ?? 0) + job.attemptsMade
    const copy: JobEnvelope = { ...envelope, deferrals, attemptsUsed, baseId }
    await queue.add(copy, { ...jobOptions(def, envelope.tenantId, { attempts: Math.max(1, def.attempts - attemptsUsed) }), jobId: `${baseId}~${deferrals}`, delay: delayMs })
    jobMetrics.processed.inc({ queue: def.type, outcome: 'deferred' })
    return { deferred: reason, delay_ms: delayMs }
  }

  const relay = opts.relay === false ? null : await startRelay({ config, db, log, consumers: registry.consumers, options: opts.relay })
  const scheduler: Scheduler | null =
    opts.schedules === false ? null : startScheduler({ db, log, prefix: config.QUEUE_PREFIX, schedules: registry.schedules, checkEveryMs: opts.scheduleCheckMs })
  const sweeps = opts.sweeps === false ? null : startSweeps({ db, log, sweeps: registry.sweeps, everyMsOverride: opts.sweepEveryMs })

  log.info({ types: processing.map((q) => q.name) }, 'worker started')
  let closing: Promise<void> | null = null
  return {
    queues: [heartbeat, ...processing],
    relay,
    scheduler,
    close() {
      closing ??= (async () => {
        await relay?.stop()
        await scheduler?.stop()
        await sweeps?.stop()
        // Finish running jobs within the grace period; past it, disconnect: the jobs' locks expire
        // and another worker's stalled check takes them over.
        await Promise.all(
          [heartbeat, ...processing].map(async (q) => {
            const finished = await Promise.race([q.close().then(() => true), sleep(opts.closeGraceMs).then(() => false)])
            if (!finished) {
              log.warn({ queue: q.name }, 'jobs still running at shutdown: released to other workers')
              await (q as unknown as { disconnect(): Promise<void> }).disconnect().catch(() => undefined)
            }
          }),
        )
        await closeProducers()
        releasePluginRuntime(runtime)
        await ownPlugins?.close()
      })()
      return closing
    },
  }
}

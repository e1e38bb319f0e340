import Queue from 'bull'
import type { Logger } from 'pino'
import type { Db, Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { isUuid, withTenant } from '../kernel/db/tenant'
import { databaseIdentity } from '../kernel/db/identity'

/**
 * Job types and the producer side of the queues. One Bull queue per job type (never per tenant: a
 * Bull queue costs about 3 Redis connections per process), created lazily, all under one key
 * prefix (config QUEUE_PREFIX, a Redis Cluster hash tag). Every job carries its tenant; handlers
 * touch the database only through `withJobTenant` (or `withTenant` with the job's tenant).
 *
 * A module exports its job definitions (nothing is registered by importing it); the explicit list
 * in `core/jobs/registry.ts` (`workerRegistry`) is handed to `configureJobs` by the API (which
 * enqueues) and to `startWorker` (which processes) at start-up:
 *
 *   export const reconciliationJob = defineJob<{ runId: string }>('reconciliation', async (data, job) =>
 *     withJobTenant(job, (trx) => runReconciliation(trx, job.tenantId, data.runId)), { attempts: 3 })
 *   await enqueue('reconciliation', tenantId, { runId }, { jobId: runId })
 */

export interface JobContext {
  tenantId: string
  /** The runtime-role database (RLS applies): open tenant transactions with withJobTenant(job, …). */
  db: Db
  /** Bull's job id (tenant-qualified: `<tenant uuid>:<your jobId>` when you gave one). */
  jobId: string
  /** Failed attempts before this one (0 on the first run). */
  attemptsMade: number
  log: Logger
}

export type JobHandler<T> = (data: T, job: JobContext) => Promise<unknown>

export interface JobOptions {
  /** Total attempts before the job lands in the dead-letter (failed) set. Default 5, at most 25. */
  attempts?: number
  /**
   * Delay in ms before retry number `attemptsMade` (1-based) after `err`; may read properties of
   * the thrown error (e.g. `retryAfterMs`). Default: exponential from 1 s, capped at 5 min.
   */
  backoff?: (attemptsMade: number, err: Error) => number
  /** The attempt fails after this long. Default 5 min, at most 1 h. */
  timeoutMs?: number
  /** Jobs of this type run at once per worker process. Default 4, at most 50. */
  concurrency?: number
  /**
   * What a platform operator's retry of a dead-lettered job of this type does, for a job that
   * running again as it was would not redo (its work moved on: e.g. a delivery attempt that was
   * made and refused, whose next attempt has its own job). Default: Bull runs the job again.
   */
  retry?: DeadLetterRetry
}

/** See JobOptions.retry: redoes a dead-lettered job's work for `ctx` (the operator, on the job's tenant). */
export type DeadLetterRetry = (ctx: RequestContext, db: Db, data: any) => Promise<void>

export interface JobDefinition {
  type: string
  handler: JobHandler<any>
  attempts: number
  backoff: (attemptsMade: number, err: Error) => number
  timeoutMs: number
  concurrency: number
  retry?: DeadLetterRetry
}

/** What Bull stores for every job: the tenant and its database travel with the payload. */
export interface JobEnvelope<T = unknown> {
  tenantId: string
  data: T
  /**
   * The database the job belongs to (`databaseIdentity`, core/kernel/db/identity.ts). A worker of
   * another database (deployments sharing a Redis and a queue prefix) refuses it without consuming
   * it. Absent on jobs enqueued before this field existed: those run wherever they are taken.
   */
  database?: string
  /** Times a worker of another database refused it (and put it back for its owner). */
  refusals?: number
  /** Times the job was put back because its tenant was paused or at its concurrency cap. */
  deferrals?: number
  /** Failed attempts of the copies it was deferred from. */
  attemptsUsed?: number
  /** The job id of the first copy (deferred copies get `<baseId>~<n>`). */
  baseId?: string
}

const TYPE_RE = /^[a-z][a-z0-9-]{0,62}$/
const JOB_ID_RE = /^[\x21-\x7e]{1,200}$/
export const MAX_ATTEMPTS = 25
const MAX_TIMEOUT_MS = 60 * 60_000
const MAX_CONCURRENCY = 50
/** Completed jobs kept per queue (dashboard, jobId dedupe); failed ones are the dead letters. */
export const KEEP_COMPLETED = 1000
export const KEEP_FAILED = 10000
/** A producer never waits longer than this for Redis. */
export const ENQUEUE_TIMEOUT_MS = 5000

export const defaultBackoff = (attemptsMade: number): number => Math.min(1000 * 2 ** Math.max(0, attemptsMade - 1), 5 * 60_000)

/** The definition of a job type (a queue named `type`): validated, registered nowhere. */
/**
 * Thrown by a handler whose work ran, was recorded and did not succeed (a webhook receiver refused
 * the delivery): the job ends failed, so dashboards show it as such, and Bull does not retry it
 * (the handler keeps its own retry schedule).
 */
export class JobOutcomeFailed extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'JobOutcomeFailed'
  }
}

export function defineJob<T>(type: string, handler: JobHandler<T>, opts: JobOptions = {}): JobDefinition {
  if (!TYPE_RE.test(type)) throw new Error(`defineJob: invalid job type '${type}'`)
  const attempts = opts.attempts ?? 5
  const timeoutMs = opts.timeoutMs ?? 5 * 60_000
  const concurrency = opts.concurrency ?? 4
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > MAX_ATTEMPTS) throw new Error(`defineJob: attempts must be 1..${MAX_ATTEMPTS}`)
  if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_TIMEOUT_MS) throw new Error(`defineJob: timeoutMs must be 1..${MAX_TIMEOUT_MS}`)
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) throw new Error(`defineJob: concurrency must be 1..${MAX_CONCURRENCY}`)
  return { type, handler, attempts, backoff: opts.backoff ?? defaultBackoff, timeoutMs, concurrency, retry: opts.retry }
}

/** Definitions by type; a type listed twice is refused. */
export function jobDefinitionMap(jobs: readonly JobDefinition[]): Map<string, JobDefinition> {
  const map = new Map<string, JobDefinition>()
  for (const def of jobs) {
    if (map.has(def.type)) throw new Error(`job type '${def.type}' is already defined`)
    map.set(def.type, def)
  }
  return map
}

export function jobDefinition(type: string): JobDefinition {
  const def = runtime?.definitions.get(type)
  if (!def) throw new Error(`unknown job type '${type}' (is it listed in core/jobs/registry.ts?)`)
  return def
}

export function jobTypes(): string[] {
  return [...(runtime?.definitions.keys() ?? [])].sort()
}

interface Runtime {
  redisUrl: string
  prefix: string
  db: Db
  log: { error(obj: object, msg: string): void }
  /** The job types this process knows (enqueues, shows, processes). */
  definitions: Map<string, JobDefinition>
}

let runtime: Runtime | null = null
const producers = new Map<string, Queue.Queue>()

/**
 * Points the producers (and `withJobTenant`) at Redis and the runtime-role database, and tells them
 * the job types (the explicit list of core/jobs/registry.ts). Called at start-up by the API
 * (core/jobs/routes.ts) and by startWorker; in one process (npm start, tests) the lists are merged,
 * a later definition of a type replacing the earlier one.
 */
export function configureJobs(r: Omit<Runtime, 'definitions'> & { jobs: readonly JobDefinition[] }): void {
  const { jobs, ...rest } = r
  const definitions = jobDefinitionMap(jobs)
  const same = runtime && runtime.redisUrl === r.redisUrl && runtime.prefix === r.prefix
  if (runtime && !same) void closeProducers()
  runtime = { ...rest, definitions: same ? new Map([...runtime!.definitions, ...definitions]) : definitions }
}

function requireRuntime(): Runtime {
  if (!runtime) throw new Error('jobs are not configured (configureJobs)')
  return runtime
}

export function queueOptions(prefix: string): Queue.QueueOptions {
  return { prefix, defaultJobOptions: { removeOnComplete: KEEP_COMPLETED, removeOnFail: KEEP_FAILED } }
}

/** The producer queue of a job type (created on first use). */
export function producerQueue(type: string): Queue.Queue {
  jobDefinition(type)
  let q = producers.get(type)
  if (!q) {
    const { redisUrl, prefix, log } = requireRuntime()
    q = new Queue(type, redisUrl, queueOptions(prefix))
    q.on('error', (err) => log.error({ err, queue: type }, 'queue error'))
    producers.set(type, q)
  }
  return q
}

export async function closeProducers(): Promise<void> {
  const qs = [...producers.values()]
  producers.clear()
  await Promise.all(qs.map((q) => q.close().catch(() => undefined)))
}

/** Bull job id: qualified by the tenant, so one tenant's ids never collide with another's. */
export function qualifiedJobId(tenantId: string, jobId: string): string {
  if (!JOB_ID_RE.test(jobId)) throw new Error(`invalid jobId '${jobId}'`)
  return `${tenantId}:${jobId}`
}

export function jobOptions(def: JobDefinition, tenantId: string, opts: { jobId?: string; delayMs?: number; attempts?: number } = {}): Queue.JobOptions {
  return {
    ...(opts.jobId !== undefined ? { jobId: qualifiedJobId(tenantId, opts.jobId) } : {}),
    ...(opts.delayMs ? { delay: Math.max(0, Math.round(opts.delayMs)) } : {}),
    attempts: opts.attempts ?? def.attempts,
    backoff: { type: 'job' }, // the worker's strategy calls def.backoff
    timeout: def.timeoutMs,
    removeOnComplete: KEEP_COMPLETED,
    removeOnFail: KEEP_FAILED,
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
    }),
  ]).finally(() => clearTimeout(timer))
}

/**
 * Adds a job for a tenant. With `jobId`, adding the same id again while the job is still in Redis
 * (waiting, active, delayed, failed or among the last completed) is a no-op. Not transactional:
 * call it after the commit that makes the job's work visible, and make the handler idempotent.
 */
export async function enqueue<T>(type: string, tenantId: string, data: T, opts: { jobId?: string; delayMs?: number } = {}): Promise<void> {
  if (!isUuid(tenantId)) throw new Error('enqueue: tenantId must be a uuid')
  const def = jobDefinition(type)
  const envelope: JobEnvelope<T> = { tenantId, data, database: await jobDatabase() }
  await withTimeout(producerQueue(type).add(envelope, jobOptions(def, tenantId, opts)), ENQUEUE_TIMEOUT_MS, `enqueue ${type}`)
}

/** Adds many jobs in one round trip (the outbox relay, webhook fan-out); fails after `timeoutMs`. */
export async function enqueueMany<T>(type: string, jobs: { tenantId: string; data: T; jobId?: string; delayMs?: number }[], timeoutMs = ENQUEUE_TIMEOUT_MS): Promise<void> {
  if (!jobs.length) return
  const def = jobDefinition(type)
  const database = await jobDatabase()
  const bulk = jobs.map((j) => {
    if (!isUuid(j.tenantId)) throw new Error('enqueueMany: tenantId must be a uuid')
    return { data: { tenantId: j.tenantId, data: j.data, database } as JobEnvelope<T>, opts: jobOptions(def, j.tenantId, { jobId: j.jobId, delayMs: j.delayMs }) }
  })
  await withTimeout(producerQueue(type).addBulk(bulk), timeoutMs, `enqueue ${type}`)
}

/** The identity of the database this process enqueues for (stamped on every job). */
export function jobDatabase(): Promise<string> {
  return databaseIdentity(requireRuntime().db)
}

/** Runs `fn` in the job's tenant transaction (the one way a job touches the database). */
export function withJobTenant<T>(job: Pick<JobContext, 'tenantId'> & { db?: Db }, fn: (trx: Trx) => Promise<T>): Promise<T> {
  return withTenant(job.db ?? requireRuntime().db, job.tenantId, fn)
}

import { randomBytes } from 'node:crypto'
import pino from 'pino'
import t from 'tap'
import { loadConfig } from '../core/kernel/config'
import { databaseIdentity } from '../core/kernel/db/identity'
import { configureJobs, defineJob, enqueue, producerQueue, withJobTenant, type JobEnvelope } from '../core/jobs/queues'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker, type Worker, type WorkerOptions } from '../core/jobs/worker'
import { jobMetrics } from '../core/ops/metrics'
import { setupTestEnv } from './helpers/app'

/**
 * Issue 10 item 6: deployments sharing a Redis must not take each other's jobs. The default queue
 * prefix differs per database; and with the SAME explicit prefix, every job carries its database and
 * a worker of another database refuses it without consuming it, so its owner runs it.
 */
const log = pino({ level: 'silent' })
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

t.test('the default queue prefix differs per database and stays one hash tag', async (t) => {
  const prefix = (url: string) => loadConfig({ DATABASE_URL: url }, {}).QUEUE_PREFIX
  const a = prefix('postgres://postgres@127.0.0.1:5432/receivables_a')
  const b = prefix('postgres://postgres@127.0.0.1:5432/receivables_b')
  const c = prefix('postgres://postgres@db.example.com/receivables_a')
  t.equal(a, '{recv:receivables_a@127.0.0.1:5432}')
  t.equal(c, '{recv:receivables_a@db.example.com:5432}')
  t.not(a, b, 'another database name')
  t.not(a, c, 'another server')
  for (const p of [a, b, c, prefix('postgres://u@h/we{ir}d%20name')]) t.match(p, /^\{[^{}]+\}$/, `${p} is one hash tag`)
  t.equal(loadConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', QUEUE_PREFIX: '{mine}' }, {}).QUEUE_PREFIX, '{mine}', 'an explicit prefix wins')
})

// What the handler saw: the database it ran against, per marker.
const ran: { marker: string; database: string }[] = []
const owned = defineJob<{ marker: string }>('test-owned', async (data, job) => {
  const database = await withJobTenant(job, async (trx) => (await trx.raw('select current_database() as d')).rows[0].d as string)
  ran.push({ marker: data.marker, database })
})

t.test('two databases on one Redis with the same queue prefix', async (t) => {
  const prefix = `{test_shared_${randomBytes(4).toString('hex')}}`
  const envA = await setupTestEnv(t, { QUEUE_PREFIX: prefix, DB_POOL_MAX: 4 })
  const envB = await setupTestEnv(t, { QUEUE_PREFIX: prefix, DB_POOL_MAX: 4 })
  const workers: Worker[] = []
  t.teardown(async () => {
    for (const w of workers) await w.close()
    const keys = await envA.redis.keys(`${prefix}:*`)
    if (keys.length) await envA.redis.del(...keys)
  })
  const nameOf = async (db: typeof envA.db) => (await db.raw('select current_database() as d')).rows[0].d as string
  const [nameA, nameB] = [await nameOf(envA.db), await nameOf(envB.db)]
  const [idA, idB] = [await databaseIdentity(envA.db), await databaseIdentity(envB.db)]
  t.not(idA, idB, `databases cloned from one template still differ (${idA} / ${idB})`)

  const fast: WorkerOptions = { relay: false, sweeps: false, schedules: false, lockDurationMs: 2000, stalledIntervalMs: 500, closeGraceMs: 5000, types: ['test-owned'] }
  const start = async (env: typeof envA) => {
    const registry = workerRegistry(env.config, { extra: { jobs: [owned] } })
    const w = await startWorker({ config: env.config, db: env.db, log, registry, options: fast })
    workers.push(w)
    return w
  }
  const tenantA = await envA.tenant({ name: 'Tenant of A' })

  // Database A's API enqueues (the process-wide producer runtime is pointed at A).
  configureJobs({ redisUrl: envA.config.REDIS_URL, prefix, db: envA.db, log, jobs: workerRegistry(envA.config, { extra: { jobs: [owned] } }).jobs })
  await enqueue('test-owned', tenantA.uuid, { marker: 'a-1' }, { jobId: 'a-1' })
  const jobId = `${tenantA.uuid}:a-1`
  const stored = await producerQueue('test-owned').getJob(jobId)
  t.equal((stored!.data as JobEnvelope).database, idA, 'the job carries the identity of its database')

  // Only database B's worker runs: it takes the job, refuses it and puts it back.
  const refusedBefore = (await jobMetrics.processed.get()).values.find((v) => v.labels.outcome === 'refused_foreign_database')?.value ?? 0
  const workerB = await start(envB)
  const refused = await until('B to refuse the job', async () => {
    const job = await producerQueue('test-owned').getJob(jobId)
    return job && ((job.data as JobEnvelope).refusals ?? 0) >= 1 ? job : null
  })
  await workerB.close()
  t.strictSame(ran, [], 'B never ran the job')
  t.equal(refused!.attemptsMade, 0, 'no attempt spent')
  const state = await (await producerQueue('test-owned').getJob(jobId))!.getState()
  t.ok(['delayed', 'waiting'].includes(state), `still queued for its owner (${state}), neither completed nor failed`)
  const refusedAfter = (await jobMetrics.processed.get()).values.find((v) => v.labels.outcome === 'refused_foreign_database' && v.labels.queue === 'test-owned')?.value ?? 0
  t.ok(refusedAfter > refusedBefore, 'reported in jobs_processed_total{outcome="refused_foreign_database"}')

  // Database A's worker then processes it, against database A.
  await start(envA)
  await until('A to run the job', () => ran.length > 0)
  t.strictSame(ran, [{ marker: 'a-1', database: nameA }], `ran once, on ${nameA} (not ${nameB})`)
  const done = await until('the job to complete', async () => {
    const job = await producerQueue('test-owned').getJob(jobId)
    return job && (await job.getState()) === 'completed' ? job : null
  })
  t.equal(done!.attemptsMade, 0, 'completed on its first attempt')
})

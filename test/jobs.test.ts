import pino from 'pino'
import t from 'tap'
import { defineJob, enqueue, producerQueue, withJobTenant } from '../core/jobs/queues'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker, type Worker, type WorkerOptions } from '../core/jobs/worker'
import { PLATFORM_TOKEN, setupTestEnv } from './helpers/app'

const log = pino({ level: 'silent' })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until<T>(what: string, fn: () => Promise<T> | T, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

// What the handlers saw, by job marker.
const seen = new Map<string, { tenantId: string; setting: string; tenantsVisible: number; jobId: string }>()
const testTenant = defineJob<{ marker: string }>('test-tenant', async (data, job) => {
  const r = await withJobTenant(job, async (trx) => ({
    setting: (await trx.raw(`select current_setting('app.tenant_id', true) as s`)).rows[0].s as string,
    tenantsVisible: Number((await trx('tenants').count({ n: '*' }).first())!.n),
  }))
  seen.set(data.marker, { tenantId: job.tenantId, jobId: job.jobId, ...r })
})

let flakyFails = true
const flakyAttempts: number[] = []
const testFlaky = defineJob<{ n: number }>(
  'test-flaky',
  async (_data, job) => {
    flakyAttempts.push(job.attemptsMade)
    if (flakyFails) throw Object.assign(new Error('receiver down'), { retryAfterMs: 20 })
    return { ok: true }
  },
  { attempts: 2, backoff: (_n, err) => (err as Error & { retryAfterMs?: number }).retryAfterMs ?? 1000 },
)

// Slow jobs, recording how many run at once per tenant.
const running = new Map<string, number>()
const maxRunning = new Map<string, number>()
const finished: string[] = []
const testSlow = defineJob<{ ms: number; marker: string }>(
  'test-slow',
  async (data, job) => {
    const n = (running.get(job.tenantId) ?? 0) + 1
    running.set(job.tenantId, n)
    maxRunning.set(job.tenantId, Math.max(maxRunning.get(job.tenantId) ?? 0, n))
    try {
      await sleep(data.ms)
      finished.push(data.marker)
    } finally {
      running.set(job.tenantId, running.get(job.tenantId)! - 1)
    }
  },
  { concurrency: 6 },
)

t.test('jobs', async (t) => {
  const env = await setupTestEnv(t)
  const fast: WorkerOptions = { relay: false, sweeps: false, lockDurationMs: 1000, stalledIntervalMs: 300, closeGraceMs: 5000 }
  const workers: Worker[] = []
  const start = async (options: WorkerOptions = {}) => {
    const registry = workerRegistry(env.config, { extra: { jobs: [testTenant, testFlaky, testSlow] } })
    const w = await startWorker({ config: env.config, db: env.db, log, registry, options: { ...fast, ...options } })
    workers.push(w)
    return w
  }
  t.teardown(async () => {
    for (const w of workers) await w.close()
    const keys = await env.redis.keys(`${env.config.QUEUE_PREFIX}:*`)
    if (keys.length) await env.redis.del(...keys)
  })
  const platform = env.api(PLATFORM_TOKEN)
  const a = await env.tenant({ name: 'Tenant A', timezone: 'Asia/Tokyo' })
  const b = await env.tenant({ name: 'Tenant B' })
  const worker = await start()

  await t.test('every job carries its tenant and runs inside withTenant', async (t) => {
    await enqueue('test-tenant', a.uuid, { marker: 'a1' })
    await enqueue('test-tenant', b.uuid, { marker: 'b1' }, { jobId: 'fixed' })
    await until('both jobs', () => seen.has('a1') && seen.has('b1'))
    t.match(seen.get('a1'), { tenantId: a.uuid, setting: a.uuid, tenantsVisible: 1 })
    t.match(seen.get('b1'), { tenantId: b.uuid, setting: b.uuid, tenantsVisible: 1, jobId: `${b.uuid}:fixed` }, 'job ids are qualified by the tenant')
    await t.rejects(enqueue('test-tenant', 'not-a-uuid', { marker: 'x' }), /uuid/)
    await t.rejects(enqueue('no-such-type', a.uuid, {}), /unknown job type/)
    t.throws(() => workerRegistry(env.config, { extra: { jobs: [testTenant, defineJob('test-tenant', async () => undefined)] } }), /already defined/)
  })

  await t.test('exhausted jobs are dead letters an operator can list and retry', async (t) => {
    await enqueue('test-flaky', a.uuid, { n: 1 }, { jobId: 'flaky-1' })
    const q = producerQueue('test-flaky')
    await until('the job to fail twice', async () => (await q.getFailedCount()) === 1)
    t.strictSame(flakyAttempts, [0, 1], 'two attempts, the custom backoff read the error')

    t.equal((await env.api(null).get('/v1/platform/dead-letters')).statusCode, 401)
    t.equal((await env.api(a.key).get('/v1/platform/dead-letters')).statusCode, 401, 'a tenant key is not the platform token')
    const list = await platform.get('/v1/platform/dead-letters?queue=test-flaky')
    t.equal(list.statusCode, 200, list.raw)
    t.equal(list.body.data.length, 1)
    t.match(list.body.data[0], { queue: 'test-flaky', id: `${a.uuid}:flaky-1`, tenant: a.id, data: { n: 1 }, failed_reason: 'receiver down', attempts_made: 2 })
    t.equal((await platform.get('/v1/platform/dead-letters?queue=nope')).statusCode, 400)

    flakyFails = false
    const id = encodeURIComponent(`${a.uuid}:flaky-1`)
    const retried = await platform.post(`/v1/platform/dead-letters/test-flaky/${id}/retry`)
    t.equal(retried.statusCode, 200, retried.raw)
    await until('the retried job to complete', async () => (await q.getJob(`${a.uuid}:flaky-1`))?.isCompleted())
    t.equal(await q.getFailedCount(), 0, 'no dead letters left')
    t.equal((await platform.post(`/v1/platform/dead-letters/test-flaky/${id}/retry`)).statusCode, 422, 'a completed job is not retried')
    t.equal((await platform.post(`/v1/platform/dead-letters/test-flaky/nope/retry`)).statusCode, 404)
  })

  await t.test('/metrics: queue depth, wait and failures per job type, nothing per tenant', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: '/metrics' })
    t.equal(res.statusCode, 200)
    t.match(res.body, /queue_jobs\{queue="test-tenant",state="waiting"\} \d+/)
    t.match(res.body, /queue_jobs\{queue="event-dispatch",state="failed"\} 0/)
    t.match(res.body, /queue_oldest_waiting_seconds\{queue="reconciliation"\} /)
    t.match(res.body, /jobs_processed_total\{queue="test-flaky",outcome="dead_lettered"\} 1/)
    t.match(res.body, /jobs_processed_total\{queue="test-tenant",outcome="completed"\} [1-9]/)
    t.match(res.body, /job_wait_seconds_count\{queue="test-tenant"\} [1-9]/)
    t.match(res.body, /# TYPE webhook_deliveries_total counter/)
    t.notOk(res.body.includes(a.uuid) || res.body.includes(a.id), 'no tenant is named')
  })

  await t.test('the queue dashboard is behind the platform token', async (t) => {
    const anon = await env.app.inject({ method: 'GET', url: '/admin/queues' })
    t.equal(anon.statusCode, 401)
    t.equal(anon.json().error.code, 'authentication_required')
    const tenantKey = await env.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${a.key}` } })
    t.equal(tenantKey.statusCode, 401, 'a tenant key is not enough')
    const page = await env.app.inject({ method: 'GET', url: '/admin/queues', headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /html/)
    const api = await env.app.inject({ method: 'GET', url: '/admin/queues/api/queues', headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } })
    t.equal(api.statusCode, 200, api.body.slice(0, 200))
    const names = (api.json().queues as { name: string }[]).map((q) => q.name)
    t.ok(['event-dispatch', 'reconciliation', 'test-flaky'].every((n) => names.includes(n)), names.join(', '))
  })

  await t.test('a paused tenant’s jobs wait, others run, nothing is lost', async (t) => {
    const paused = await platform.post(`/v1/platform/tenants/${a.id}/pause`, { reason: 'investigating' })
    t.equal(paused.statusCode, 200, paused.raw)
    t.match(paused.body, { tenant: a.id, paused: true, paused_reason: 'investigating' })
    t.equal((await platform.post(`/v1/platform/tenants/ten_${'0'.repeat(32)}/pause`)).statusCode, 404)
    t.equal((await env.api(a.key).post(`/v1/platform/tenants/${a.id}/pause`)).statusCode, 401)

    await enqueue('test-tenant', a.uuid, { marker: 'a-paused' })
    await enqueue('test-tenant', b.uuid, { marker: 'b-running' })
    await until('the other tenant’s job', () => seen.has('b-running'))
    await sleep(1500)
    t.notOk(seen.has('a-paused'), 'the paused tenant’s job has not run')
    const delayed = await producerQueue('test-tenant').getDelayed()
    t.ok(delayed.some((j) => j.data.tenantId === a.uuid && j.data.data.marker === 'a-paused'), 'it waits, delayed')

    const resumed = await platform.post(`/v1/platform/tenants/${a.id}/resume`)
    t.match(resumed.body, { paused: false, paused_reason: null })
    await until('the job after resume', () => seen.has('a-paused'), 20000)
    t.equal(seen.get('a-paused')!.tenantId, a.uuid)
    const audit = await env.admin('audit_log').where({ tenant_id: a.uuid }).whereIn('action', ['tenant.jobs_paused', 'tenant.jobs_resumed']).orderBy('seq')
    t.strictSame(audit.map((r: any) => [r.action, r.actor, r.reason]), [['tenant.jobs_paused', 'platform', 'investigating'], ['tenant.jobs_resumed', 'platform', null]])
  })

  await t.test('a tenant’s concurrency cap holds across the queue, other tenants keep running', async (t) => {
    const set = await platform.post(`/v1/platform/tenants/${a.id}/job-settings`, { concurrency: 1 })
    t.match(set.body, { concurrency: 1 })
    for (let i = 0; i < 4; i++) await enqueue('test-slow', a.uuid, { ms: 150, marker: `a${i}` })
    for (let i = 0; i < 4; i++) await enqueue('test-slow', b.uuid, { ms: 150, marker: `b${i}` })
    await until('all slow jobs', () => finished.length === 8, 20000)
    t.equal(maxRunning.get(a.uuid), 1, 'capped tenant: one at a time')
    t.ok(maxRunning.get(b.uuid)! >= 2, `the other tenant ran ${maxRunning.get(b.uuid)} at once (default cap: half the type's concurrency)`)
    t.ok(maxRunning.get(b.uuid)! <= 3)
    await platform.post(`/v1/platform/tenants/${a.id}/job-settings`, { concurrency: null })
  })

  await t.test('per-tenant schedules: nightly reconciliation at 02:00 in the tenant’s timezone, rebuilt after Redis loses them', async (t) => {
    await worker.scheduler!.check()
    const q = producerQueue('reconciliation')
    const mine = async () => (await q.getRepeatableJobs()).filter((r) => r.id?.startsWith(a.uuid) || r.id?.startsWith(b.uuid))
    const repeatables = await mine()
    t.strictSame(repeatables.map((r) => [r.id, r.cron, r.tz]).sort(), [
      [`${a.uuid}.nightly-reconciliation`, '0 2 * * *', 'Asia/Tokyo'],
      [`${b.uuid}.nightly-reconciliation`, '0 2 * * *', 'UTC'],
    ].sort())
    await worker.scheduler!.check()
    t.equal((await mine()).length, 2, 'registering again adds nothing')

    const c = await env.tenant({ name: 'Tenant C', timezone: 'America/New_York' })
    await worker.scheduler!.check()
    t.ok((await mine()).length === 2 && (await q.getRepeatableJobs()).some((r) => r.id === `${c.uuid}.nightly-reconciliation` && r.tz === 'America/New_York'), 'a new tenant gets its schedule')

    // Redis loses its data: the schedules and the scheduler's cursor with it.
    for (const r of await q.getRepeatableJobs()) await q.removeRepeatableByKey(r.key)
    await env.redis.del(`${env.config.QUEUE_PREFIX}:tenant-schedules:cursor`)
    await worker.scheduler!.check()
    t.equal((await q.getRepeatableJobs()).length, 3, 'every tenant’s schedule is back')
  })

  await t.test('graceful shutdown finishes running jobs, or releases them to another worker', async (t) => {
    const q = () => producerQueue('test-slow') // closing a worker closes the producers; they reopen on use
    await worker.close() // from here on, only the workers started below process test-slow
    const w = await start({ types: ['test-slow'], closeGraceMs: 5000 })
    await enqueue('test-slow', b.uuid, { ms: 600, marker: 'finish-me' }, { jobId: 'finish-me' })
    await until('the job to start', async () => (await q().getActiveCount()) > 0)
    await w.close()
    t.ok(finished.includes('finish-me'), 'close waited for the running job')
    t.ok(await (await q().getJob(`${b.uuid}:finish-me`))?.isCompleted(), 'and it completed')

    // A job still running past the grace period is released: its lock lapses and another worker's
    // stalled check takes it over.
    const hurried = await start({ types: ['test-slow'], closeGraceMs: 100 })
    await enqueue('test-slow', b.uuid, { ms: 2500, marker: 'released' }, { jobId: 'released' })
    await until('the long job to start', async () => (await q().getActiveCount()) > 0)
    const closedAt = Date.now()
    await hurried.close()
    t.ok(Date.now() - closedAt < 2000, 'close did not wait for it')
    const successor = await start({ types: ['test-slow'] })
    await until('another worker to complete it', async () => (await q().getJob(`${b.uuid}:released`))?.isCompleted(), 20000)
    const job = await q().getJob(`${b.uuid}:released`)
    t.ok(job!.finishedOn && job!.finishedOn > closedAt, 'completed by the successor')
    await successor.close()
  })
})


import { defineEventConsumer, type EventRow } from '../events/consumers'
import { customerOf } from '../outbox/outbox'
import { creditPolicyMetrics } from '../ops/metrics'
import { addToRun, currentPolicy, evaluationsWaiting, finishRun, insertRun, queueEvaluations, startRun, stateCounts, staleRunIds, takeEvaluations } from '../credit-policy/model'
import { applyCreditPolicy, policyContext, sweepChunk, SWEEP_CHUNK, type ApplyResult } from '../workflows/credit-policy'
import { customerIdsPage } from '../customers/service'
import { ledgerContext } from '../ledger/engine'
import { afterCommit } from '../kernel/db/tenant'
import { defineJob, enqueue, withJobTenant, type JobContext } from './queues'
import { defineTenantSchedule } from './schedules'
import { defineTenantSweep } from './sweeps'

/**
 * The credit-policy sweep (`credit-policy` job): on demand (POST /v1/credit-policy/runs, data.runId)
 * or nightly at 01:00 in the tenant's timezone (data.trigger = 'scheduled'), over every customer in
 * chunks (one transaction each), and the per-customer evaluation right after each change that
 * touches a customer (an event consumer and the `credit-policy-evaluate` job, below). Exported,
 * registered nowhere: core/jobs/registry.ts lists them.
 */
export const CREDIT_POLICY = 'credit-policy'
const ATTEMPTS = 3
export const STALE_RUN_MS = 15 * 60_000

type SweepJob = { runId?: string; trigger?: 'scheduled' }

function countActions(r: ApplyResult) {
  for (const [action, n] of Object.entries(r.counts)) creditPolicyMetrics.actions.inc({ action }, n)
  if (r.rules_failed) creditPolicyMetrics.rulesFailed.inc(r.rules_failed)
}

/** Sweep chunks in flight at once. */
const SWEEP_PARALLEL = 2

/** The ids of the customers a sweep evaluates, SWEEP_CHUNK at a time, in id order. */
async function* customerPages(job: Pick<JobContext, 'tenantId'> & { db?: JobContext['db'] }, ctx: ReturnType<typeof policyContext>) {
  let after: string | null = null
  for (;;) {
    const ids: string[] = await withJobTenant(job, (trx) => customerIdsPage(trx, ctx, after, SWEEP_CHUNK))
    if (ids.length) yield ids
    if (ids.length < SWEEP_CHUNK) return
    after = ids[ids.length - 1]
  }
}

export async function runCreditPolicySweep(data: SweepJob, job: Pick<JobContext, 'tenantId' | 'jobId' | 'attemptsMade'> & { db?: JobContext['db'] }) {
  const ctx = policyContext(job.tenantId, `job_${job.jobId}`)
  const runId = data.runId ?? (await withJobTenant(job, (trx) => insertRun(trx, ctx, 'scheduled'))).id
  const started = Date.now()
  const policy = await withJobTenant(job, async (trx) => {
    const p = await currentPolicy(trx, ctx)
    return (await startRun(trx, ctx, runId, (await ledgerContext(trx, ctx)).today, p)) ? p : null
  })
  if (!policy) return { run: runId, skipped: 'finished' }
  try {
    // Chunks run SWEEP_PARALLEL at a time, each its own transaction over its own customers (the
    // database does most of a chunk's work; two chunks use both of its cores). Pages are read one
    // after the other: an async generator queues concurrent next() calls.
    const pages = customerPages(job, ctx)
    const lane = async () => {
      for await (const ids of pages) {
        await withJobTenant(job, async (trx) => {
          const result = await applyCreditPolicy(trx, ctx, ids, policy)
          await addToRun(trx, ctx, runId, result)
          countActions(result)
        })
      }
    }
    await Promise.all(Array.from({ length: SWEEP_PARALLEL }, lane))
    const run = await withJobTenant(job, async (trx) => {
      creditPolicyMetrics.setTenantStates(job.tenantId, await stateCounts(trx, job.tenantId))
      return finishRun(trx, ctx, runId, null)
    })
    creditPolicyMetrics.sweepDuration.observe((Date.now() - started) / 1000)
    return { run: runId, evaluated: run.evaluated, actions_taken: run.actions_taken }
  } catch (err) {
    if (job.attemptsMade + 1 >= ATTEMPTS) await withJobTenant(job, (trx) => finishRun(trx, ctx, runId, (err as Error).message ?? String(err)))
    throw err
  }
}

export const creditPolicyJob = defineJob<SweepJob>(CREDIT_POLICY, runCreditPolicySweep, { attempts: ATTEMPTS, concurrency: 2, timeoutMs: 30 * 60_000 })

/** After the commit that created the run; the job id is the run id, so this is safe to repeat. */
export function enqueueCreditPolicyRun(tenantId: string, runId: string): Promise<void> {
  return enqueue<SweepJob>(CREDIT_POLICY, tenantId, { runId }, { jobId: runId })
}

export const nightlyCreditPolicy = defineTenantSchedule({ name: 'nightly-credit-policy', type: CREDIT_POLICY, cron: '0 1 * * *', data: { trigger: 'scheduled' } })

export const creditPolicyRequeue = defineTenantSweep({
  name: 'credit-policy-requeue',
  everyMs: 60_000,
  async run(db, tenantId) {
    const ids = await withJobTenant({ tenantId, db }, (trx) => staleRunIds(trx, tenantId, STALE_RUN_MS))
    for (const id of ids) await enqueueCreditPolicyRun(tenantId, id)
  },
})

/** Changes after which the customers they touch are evaluated at once. */
export const TOUCHING_EVENTS = [
  'payment.created', 'payment.voided', 'allocation.created', 'allocation.reversed', 'credit_note.created', 'credit_note.voided',
  'refund.created', 'write_off.created', 'adjustment.created', 'transaction.reversed', 'invoice.voided',
  'dispute.created', 'dispute.updated', 'dispute.submitted', 'dispute.resolved', 'dispute.won', 'dispute.lost',
  'test_clock.advanced',
] as const

function touchedCustomers(events: EventRow[]): { all: boolean; ids: string[] } {
  const ids = new Set<string>()
  let all = false
  for (const e of events) {
    if (e.type === 'test_clock.advanced') all = true
    const c = customerOf(e.data.object)
    if (c) ids.add(c)
  }
  return { all, ids: [...ids] }
}

// ---- the evaluation after a change ----------------------------------------------------------------

/**
 * The per-customer evaluation right after each change that touches a customer, coalesced: the event
 * consumer only appends the customers to `credit_policy_pending` (one insert, no lock on anyone's
 * state), and the `credit-policy-evaluate` job evaluates the customers waiting, each once however
 * many changes touched it, one transaction per EVALUATE_ROWS rows until none is left. So a burst of
 * payments to one customer costs one evaluation per window, not one per payment, each waiting for
 * the previous one's lock on the customer's state (which held dispatch slots and connections idle).
 *
 * Changes gather for EVALUATION_WINDOW_MS: a consumer enqueues the job of the window after the one
 * it runs in (job id: that window's number; delayed to its start), so every row appended during a
 * window is taken by a job that starts after it ends, and a job of the same id already queued is
 * that one. A lost enqueue (Redis down) is found by `creditPolicyEvaluateRequeue`.
 */
export const CREDIT_POLICY_EVALUATE = 'credit-policy-evaluate'
export const EVALUATION_WINDOW_MS = 250
const EVALUATE_ROWS = 2000
/** Rows waiting longer than this have lost their job. */
const EVALUATION_LOST_MS = 30_000

export async function evaluateWaiting(job: Pick<JobContext, 'tenantId' | 'jobId'> & { db?: JobContext['db'] }): Promise<{ evaluated: number }> {
  const ctx = policyContext(job.tenantId, `job_${job.jobId}`)
  let evaluated = 0
  for (;;) {
    const taken = await withJobTenant(job, async (trx) => {
      const { customers, rows } = await takeEvaluations(trx, ctx, EVALUATE_ROWS)
      if (customers.length) countActions(await applyCreditPolicy(trx, ctx, customers))
      evaluated += customers.length
      return rows
    })
    if (taken < EVALUATE_ROWS) return { evaluated }
  }
}

export const creditPolicyEvaluateJob = defineJob<Record<string, never>>(CREDIT_POLICY_EVALUATE, (_data, job) => evaluateWaiting(job), { attempts: 5, concurrency: 4, timeoutMs: 10 * 60_000 })

/** The job of the next window (see above); `now` for tests. */
export function enqueueEvaluation(tenantId: string, now = Date.now()): Promise<void> {
  const window = Math.floor(now / EVALUATION_WINDOW_MS) + 1
  return enqueue(CREDIT_POLICY_EVALUATE, tenantId, {}, { jobId: `evaluate-${window}`, delayMs: window * EVALUATION_WINDOW_MS - now })
}

export const creditPolicyEvaluateRequeue = defineTenantSweep({
  name: 'credit-policy-evaluate-requeue',
  everyMs: 60_000,
  async run(db, tenantId) {
    if (await withJobTenant({ tenantId, db }, (trx) => evaluationsWaiting(trx, tenantId, EVALUATION_LOST_MS))) {
      await enqueue(CREDIT_POLICY_EVALUATE, tenantId, {}, { jobId: `evaluate-requeue-${Date.now()}` })
    }
  },
})

/**
 * The consumer: the customers the batch touched wait for the evaluation job (above); a test-clock
 * advance evaluates every customer of the (sandbox) tenant at once, chunk by chunk, in the
 * consumer's transaction.
 */
export const creditPolicyConsumer = defineEventConsumer({
  name: 'credit-policy',
  interest: async () => TOUCHING_EVENTS,
  async consume(trx, eventCtx, events) {
    const ctx = policyContext(eventCtx.tenantId, eventCtx.requestId)
    const { all, ids } = touchedCustomers(events)
    if (all) {
      const policy = await currentPolicy(trx, ctx)
      let after: string | null = null
      do {
        const { last, result } = await sweepChunk(trx, ctx, policy, after)
        countActions(result)
        after = last
      } while (after !== null)
      return
    }
    await queueEvaluations(trx, ctx, ids)
    if (ids.length) afterCommit(trx, () => enqueueEvaluation(eventCtx.tenantId).catch(() => undefined))
  },
})

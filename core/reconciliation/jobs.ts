import { systemContext } from '../kernel/context'
import { builtInAccess } from '../kernel/permissions'
import { defineJob, enqueue, withJobTenant, type JobContext } from '../jobs/queues'
import { defineTenantSchedule } from '../jobs/schedules'
import { defineTenantSweep } from '../jobs/sweeps'
import { completeRun, failRun, nightlyRun, staleRunIds, startRun } from './service'

/**
 * The `reconciliation` job: a manual run (POST /v1/reconciliations, data.runId) or the nightly one
 * (02:00 in the tenant's timezone, data.trigger = 'nightly'). The check runs in one transaction that
 * also records the result, so a retried job never records a run twice. Exported, registered
 * nowhere: core/jobs/registry.ts lists the job, its schedule and its sweep.
 */
export const RECONCILIATION = 'reconciliation'
/** A run still queued (or running) this long has lost its job: the sweep enqueues it again. */
export const STALE_RUN_MS = 10 * 60_000
const ATTEMPTS = 3

type RunJob = { runId?: string; trigger?: 'nightly' }

export async function runReconciliationJob(data: RunJob, job: JobContext) {
  const ctx = systemContext(job.tenantId, builtInAccess('admin'), `job_${job.jobId}`)
  const runId = data.runId ?? (await withJobTenant(job, (trx) => nightlyRun(trx, ctx))).id
  if (!(await withJobTenant(job, (trx) => startRun(trx, ctx, runId)))) return { run: runId, skipped: 'finished' }
  try {
    const run = await withJobTenant(job, (trx) => completeRun(trx, ctx, runId))
    return { run: runId, discrepancies: run.discrepancy_count }
  } catch (err) {
    if (job.attemptsMade + 1 >= ATTEMPTS) {
      await withJobTenant(job, (trx) => failRun(trx, ctx, runId, (err as Error).message ?? String(err)))
    }
    throw err
  }
}

export const reconciliationJob = defineJob<RunJob>(RECONCILIATION, runReconciliationJob, { attempts: ATTEMPTS, concurrency: 2, timeoutMs: 10 * 60_000 })

/** After the commit that created the run; the job id is the run id, so this is safe to repeat. */
export function enqueueRun(tenantId: string, runId: string): Promise<void> {
  return enqueue<RunJob>(RECONCILIATION, tenantId, { runId }, { jobId: runId })
}

export const nightlyReconciliation = defineTenantSchedule({ name: 'nightly-reconciliation', type: RECONCILIATION, cron: '0 2 * * *', data: { trigger: 'nightly' } })

export const reconciliationRequeue = defineTenantSweep({
  name: 'reconciliation-requeue',
  everyMs: 60_000,
  async run(db, tenantId) {
    const ids = await withJobTenant({ tenantId, db }, (trx) => staleRunIds(trx, tenantId, STALE_RUN_MS))
    for (const id of ids) await enqueueRun(tenantId, id)
  },
})

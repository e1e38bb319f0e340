import { systemContext } from '../kernel/context'
import { builtInAccess } from '../kernel/permissions'
import { defineJob, enqueue, withJobTenant, type JobContext, type JobDefinition } from '../jobs/queues'
import { defineTenantSchedule } from '../jobs/schedules'
import { defineTenantSweep } from '../jobs/sweeps'
import { retentionMetrics } from '../ops/metrics'
import { executeRetentionRun, failRetentionRun, nightlyRetentionRun, type AnonymizeCustomer } from '../workflows/retention'
import { staleRunIds } from './model'

/**
 * The `retention` job: a manual run (POST /v1/retention/runs, data.runId) or the nightly one (03:30
 * in the tenant's timezone, data.trigger = 'nightly'; a sandbox tenant's run is as of its test
 * clock). One queue for the job type, per-tenant schedules, concurrency and pause switch as for
 * every job (core/jobs). Exported, registered nowhere: core/jobs/registry.ts lists the job (made
 * with the anonymization step it is given), its schedule and its sweep.
 */
export const RETENTION = 'retention'
export const STALE_RUN_MS = 10 * 60_000
const ATTEMPTS = 3

type RunJob = { runId?: string; trigger?: 'nightly' }

export function retentionJob(deps: { anonymize: AnonymizeCustomer | null }): JobDefinition {
  return defineJob<RunJob>(
    RETENTION,
    async (data, job: JobContext) => {
      const ctx = systemContext(job.tenantId, builtInAccess('admin'), `job_${job.jobId}`)
      const runId = data.runId ?? (await withJobTenant(job, (trx) => nightlyRetentionRun(trx, ctx)))
      try {
        const outcome = await executeRetentionRun({ db: job.db, anonymize: deps.anonymize }, ctx, runId)
        if (outcome.counts) {
          const run = await withJobTenant(job, (trx) => trx('retention_runs').where({ tenant_id: job.tenantId, id: runId }).first('policies'))
          const actions = Object.fromEntries(((run?.policies ?? []) as { data_type: string; action: string }[]).map((p) => [p.data_type, p.action]))
          retentionMetrics.completed(outcome.counts as Record<string, number>, actions)
        }
        return outcome
      } catch (err) {
        if (job.attemptsMade + 1 >= ATTEMPTS) await failRetentionRun(job.db, ctx, runId, (err as Error).message ?? String(err))
        throw err
      }
    },
    { attempts: ATTEMPTS, concurrency: 1, timeoutMs: 30 * 60_000 },
  )
}

/** After the commit that created the run; the job id is the run id, so this is safe to repeat. */
export function enqueueRetentionRun(tenantId: string, runId: string): Promise<void> {
  return enqueue<RunJob>(RETENTION, tenantId, { runId }, { jobId: runId })
}

export const nightlyRetention = defineTenantSchedule({ name: 'nightly-retention', type: RETENTION, cron: '30 3 * * *', data: { trigger: 'nightly' } })

export const retentionRequeue = defineTenantSweep({
  name: 'retention-requeue',
  everyMs: 60_000,
  async run(db, tenantId) {
    const ids = await withJobTenant({ tenantId, db }, (trx) => staleRunIds(trx, tenantId, STALE_RUN_MS))
    for (const id of ids) await enqueueRetentionRun(tenantId, id)
  },
})

import { defineJob, enqueue } from '../jobs/queues'
import { enqueueNotifications } from '../notifications/jobs'
import { processStatementRun } from '../workflows/notify-statements'

/** The `statement-run` job: makes (the rest of) one run; listed by core/jobs/registry.ts. */
export const STATEMENT_RUN_JOB = 'statement-run'

export const statementRunJob = defineJob<{ runId: string }>(STATEMENT_RUN_JOB, (data, job) => processStatementRun(job.db, job.tenantId, data.runId, enqueueNotifications), {
  attempts: 3,
  timeoutMs: 60 * 60_000,
  concurrency: 2,
})

export const enqueueStatementRun = (tenantId: string, runId: string) => enqueue(STATEMENT_RUN_JOB, tenantId, { runId }, { jobId: runId })

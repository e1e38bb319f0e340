import { defineJob, enqueueMany, type JobDefinition } from '../jobs/queues'
import { defineTenantSweep, type TenantSweep } from '../jobs/sweeps'
import { notificationSends } from '../ops/metrics'
import { DEFAULT_SEND_SETTINGS, NOTIFICATION_JOB, sendAndDrain, sweepNotifications, type NotificationEnqueue, type SendSettings } from '../workflows/notify'

/**
 * The `notification-send` job (one send of one notification) and its sweep, built on the send
 * settings; listed by core/jobs/registry.ts. Retries are the job's own (a delayed job per retry, the
 * row's next_attempt_at the truth); Bull's attempts only cover infrastructure errors.
 */

/** Adds send jobs (one round trip); job ids dedupe repeated enqueues of one attempt. */
export const enqueueNotifications: NotificationEnqueue = (tenantId, items) =>
  enqueueMany<{ id: string }>(NOTIFICATION_JOB, items.map((i) => ({ tenantId, data: { id: i.id }, jobId: i.jobId, delayMs: i.delayMs })))

/** A job sends its notification and up to this many more of the tenant's due ones, for at most this long, a batch at a time. */
const DRAIN_MAX = 200
const DRAIN_BATCH = 20
const DRAIN_BUDGET_MS = 30_000

export interface NotificationJobs {
  settings: SendSettings
  job: JobDefinition
  sweep: TenantSweep
}

export function notificationJobs(change: Partial<SendSettings> & { sweepEveryMs?: number } = {}): NotificationJobs {
  const { sweepEveryMs = 30_000, ...rest } = change
  const settings: SendSettings = { ...DEFAULT_SEND_SETTINGS, ...rest }
  return {
    settings,
    job: defineJob<{ id: string }>(
      NOTIFICATION_JOB,
      (data, job) => sendAndDrain(job.db, job.tenantId, data.id, settings, enqueueNotifications, { max: DRAIN_MAX, budgetMs: DRAIN_BUDGET_MS, batch: DRAIN_BATCH }, (outcome) => notificationSends.inc({ outcome })),
      { attempts: 3, timeoutMs: 2 * 60_000, concurrency: 16 },
    ),
    sweep: defineTenantSweep({
      name: 'notifications',
      everyMs: sweepEveryMs,
      run: async (db, tenantId) => void (await sweepNotifications(db, tenantId, settings, enqueueNotifications, sweepEveryMs)),
    }),
  }
}

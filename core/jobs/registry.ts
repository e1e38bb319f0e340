import type { Config } from '../kernel/config'
import { checkConsumers, type EventConsumer } from '../events/consumers'
import { eventDispatchJob } from '../events/dispatch'
import { nightlyReconciliation, reconciliationJob, reconciliationRequeue } from '../reconciliation/jobs'
import { importJob, importRequeue } from '../imports/jobs'
import { nightlyRetention, retentionJob, retentionRequeue } from '../retention/jobs'
import type { AnonymizeCustomer } from '../workflows/retention'
import { anonymizeCustomer } from '../workflows/anonymize-customer'
import { creditPolicyConsumer, creditPolicyEvaluateJob, creditPolicyEvaluateRequeue, creditPolicyJob, creditPolicyRequeue, nightlyCreditPolicy } from './credit-policy'
import { webhookDelivery, type DeliverySettings } from '../webhooks/delivery'
import { notificationJobs } from '../notifications/jobs'
import type { SendSettings } from '../workflows/notify'
import { statementRunJob } from '../statement-runs/jobs'
import { jobDefinitionMap, type JobDefinition } from './queues'
import type { TenantSchedule } from './schedules'
import type { TenantSweep } from './sweeps'

/**
 * The one list of what runs in the background: job types, event consumers (in the order they run
 * on each event), per-tenant sweeps and per-tenant schedules. Nothing registers itself by being
 * imported: a module exports its definitions and is added here. The worker (startWorker) runs this
 * list; the API (core/jobs/routes.ts), which enqueues, takes its job types from it too.
 */
export interface JobRegistry {
  jobs: JobDefinition[]
  consumers: EventConsumer[]
  sweeps: TenantSweep[]
  schedules: TenantSchedule[]
}

export interface RegistryOptions {
  /** Webhook delivery settings beyond the config's (tests shorten the retry schedule). */
  webhooks?: Partial<DeliverySettings>
  /** Notification send settings beyond the config's (tests shorten the backoff and the lease). */
  notifications?: Partial<SendSettings> & { sweepEveryMs?: number }
  /**
   * The anonymization step retention applies to soft-deleted customers past their retention (the
   * privacy workflow). Without one, a run counts them as skipped and anonymizes nobody.
   */
  anonymizeCustomer?: AnonymizeCustomer
  /** More of each (tests add their own jobs and consumers); consumers run after the built-in ones. */
  extra?: Partial<Omit<JobRegistry, 'jobs'>> & { jobs?: JobDefinition[] }
  /**
   * Built-in background work left out, by name (a consumer's or sweep's or schedule's name, a job's
   * type): a test of one process isolated from another (retention runs without the credit policy
   * reacting to the test clock it advances). The service itself never omits anything.
   */
  omit?: string[]
}

/** Soft-deleted customers past retention are anonymized by the privacy workflow (crypto-shredding). */
const anonymizeByRetention: AnonymizeCustomer = (trx, ctx, customerId, reason) => anonymizeCustomer(trx, ctx, customerId, { reason })

export function workerRegistry(config: Pick<Config, 'WEBHOOK_ALLOW_PRIVATE_TARGETS'>, opts: RegistryOptions = {}): JobRegistry {
  const webhooks = webhookDelivery({ allowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS, ...opts.webhooks })
  const notifications = notificationJobs({ allowPrivateTargets: config.WEBHOOK_ALLOW_PRIVATE_TARGETS, ...opts.notifications })
  const keep = <T>(list: T[], name: (x: T) => string) => list.filter((x) => !opts.omit?.includes(name(x)))
  const consumers = [...keep([webhooks.consumer, creditPolicyConsumer], (c) => c.name), ...(opts.extra?.consumers ?? [])]
  checkConsumers(consumers)
  const builtIn = {
    jobs: [webhooks.job, reconciliationJob, importJob, retentionJob({ anonymize: opts.anonymizeCustomer ?? anonymizeByRetention }), creditPolicyJob, creditPolicyEvaluateJob, notifications.job, statementRunJob],
    sweeps: [webhooks.sweep, reconciliationRequeue, importRequeue, retentionRequeue, creditPolicyRequeue, creditPolicyEvaluateRequeue, notifications.sweep],
    schedules: [nightlyReconciliation, nightlyRetention, nightlyCreditPolicy],
  }
  const registry: JobRegistry = {
    jobs: [eventDispatchJob(consumers), ...keep(builtIn.jobs, (j) => j.type), ...(opts.extra?.jobs ?? [])],
    consumers,
    sweeps: [...keep(builtIn.sweeps, (w) => w.name), ...(opts.extra?.sweeps ?? [])],
    schedules: [...keep(builtIn.schedules, (c) => c.name), ...(opts.extra?.schedules ?? [])],
  }
  jobDefinitionMap(registry.jobs) // refuses a type defined twice
  return registry
}

import type { FastifyInstance } from 'fastify'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client'
import { jobTypes, producerQueue, withTimeout } from '../jobs/queues'
import { CATALOG, type ErrorCode } from '../kernel/errors'
import { financeFigures, RECONCILIATION_FRESH_SECONDS, type FinanceFigures } from './finance-figures'
import { auditFigures, type AuditFigures } from './audit-figures'

export interface Metrics {
  registry: Registry
  httpDuration: Histogram<'method' | 'route' | 'status'>
  httpRequests: Counter<'method' | 'route' | 'status'>
  instrument(app: FastifyInstance): void
}

/*
 * Process-wide metrics, incremented where the work happens (the worker, which in `npm start` shares
 * the API's process) and registered in every registry createMetrics() makes. /metrics is public and
 * platform-wide: nothing here is labelled by tenant.
 */

/** Webhook delivery attempts by outcome (incremented by core/webhooks): the success rate. */
export const webhookDeliveries = new Counter({
  name: 'webhook_deliveries_total',
  help: 'Webhook delivery attempts by outcome',
  labelNames: ['outcome'] as const,
  registers: [],
})

export const jobMetrics = {
  processed: new Counter({
    name: 'jobs_processed_total',
    help: 'Job attempts by queue (job type) and outcome: completed, failed (will retry), dead_lettered, deferred (tenant paused or at its cap), refused_foreign_database (a job of another database sharing Redis and the queue prefix, put back for its owner)',
    labelNames: ['queue', 'outcome'] as const,
    registers: [],
  }),
  wait: new Histogram({
    name: 'job_wait_seconds',
    help: 'Time from enqueue (or the end of the requested delay) to the first attempt, by queue',
    labelNames: ['queue'] as const,
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 300],
    registers: [],
  }),
  duration: new Histogram({
    name: 'job_duration_seconds',
    help: 'Job attempt duration by queue',
    labelNames: ['queue'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [],
  }),
}

export const relayMetrics = {
  published: new Counter({ name: 'outbox_events_published_total', help: 'Events handed to the dispatch queue by the outbox relay', labelNames: ['kind'] as const, registers: [] }),
  errors: new Counter({ name: 'outbox_relay_errors_total', help: 'Failed relay turns (retried by the next sweep)', registers: [] }),
}

/**
 * Error answers by catalogue code (incremented by core/http/errors.ts, where errors become HTTP):
 * e.g. `code="credit_limit_exceeded"` counts credit-limit refusals, `code="version_conflict"` stale
 * If-Match updates. Only catalogue codes are labels (bounded), each present from 0.
 */
export const httpErrors = new Counter({
  name: 'http_errors_total',
  help: 'Error answers by error code (the catalogue of core/kernel/errors.ts), e.g. credit_limit_exceeded, version_conflict',
  labelNames: ['code'] as const,
  registers: [],
})
for (const code of Object.keys(CATALOG)) httpErrors.labels(code).inc(0)

/** Counts one error answer; codes outside the catalogue (none should exist) count as internal_error. */
export function countErrorAnswer(code: string): void {
  httpErrors.inc({ code: code in CATALOG ? (code as ErrorCode) : 'internal_error' })
}

/**
 * Group posting (core/http/batch.ts): requests written by one transaction, by document, and batches
 * that failed as a whole and ran their requests again one by one. A batch's statements and commit
 * are shared by its requests, so larger batches cost less per document.
 */
export const postingMetrics = {
  batchSize: new Histogram({
    name: 'posting_batch_size',
    help: 'Requests posted by one transaction (group posting), by document',
    labelNames: ['document'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 500],
    registers: [],
  }),
  fallbacks: new Counter({
    name: 'posting_batch_fallbacks_total',
    help: 'Posting batches that failed as a whole (nothing written), whose requests then ran one by one',
    labelNames: ['document'] as const,
    registers: [],
  }),
}

export const notificationSends = new Counter({
  name: 'notifications_sent_total',
  help: 'Notification sends recorded, by outcome (sent, failed: retry due, dead: no more automatic retries)',
  labelNames: ['outcome'] as const,
  registers: [],
})

/**
 * Retention (incremented by the retention job when a run completes, with the run's counts): rows
 * purged, archived and anonymized per data type over all tenants, and the age of the last run this
 * process completed (absent until one has).
 */
let lastRetentionRunAt: number | null = null
export const retentionMetrics = {
  rows: new Counter({
    name: 'retention_rows_total',
    help: 'Rows handled by completed retention runs, by data type and action (purge, archive, anonymize), over all tenants',
    labelNames: ['data_type', 'action'] as const,
    registers: [],
  }),
  lastRunAge: new Gauge({
    name: 'retention_last_run_age_seconds',
    help: 'Seconds since this process last completed a retention run (any tenant)',
    registers: [],
    collect() {
      if (lastRetentionRunAt === null) this.reset()
      else this.set((Date.now() - lastRetentionRunAt) / 1000)
    },
  }),
  completed(counts: Record<string, number>, actions: Record<string, string>): void {
    for (const [dataType, n] of Object.entries(counts)) if (n > 0) retentionMetrics.rows.inc({ data_type: dataType, action: actions[dataType] ?? 'unknown' }, n)
    lastRetentionRunAt = Date.now()
  },
}

/**
 * Credit policy (incremented by core/jobs/credit-policy.ts): actions taken by type (suspensions,
 * reactivations, warnings, ...), rules that failed to evaluate, sweep duration, and customers per
 * policy state as of each tenant's last sweep in this process, summed over tenants.
 */
const policyStates = new Map<string, { suspended: number; credit_hold: number; in_episode: number }>()
export const creditPolicyMetrics = {
  actions: new Counter({ name: 'credit_policy_actions_total', help: 'Credit-policy actions applied, by type: suspend, reactivate, warn, notify, block_credit_sales, unblock_credit_sales', labelNames: ['action'] as const, registers: [] }),
  rulesFailed: new Counter({ name: 'credit_policy_rules_failed_total', help: 'Rule evaluations that failed (the rule was skipped for that customer)', registers: [] }),
  sweepDuration: new Histogram({ name: 'credit_policy_sweep_duration_seconds', help: 'Duration of a whole credit-policy sweep of a tenant', buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300], registers: [] }),
  customers: new Gauge({
    name: 'credit_policy_customers',
    help: "Customers by credit-policy state (suspended by the policy, on hold by the policy, in an overdue episode), as of each tenant's last sweep in this process",
    labelNames: ['state'] as const,
    registers: [],
    collect() {
      this.reset()
      const sum = { suspended: 0, credit_hold: 0, in_episode: 0 }
      for (const c of policyStates.values()) for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += c[k]
      for (const [state, n] of Object.entries(sum)) this.set({ state }, n)
    },
  }),
  setTenantStates(tenantId: string, counts: { suspended: number; credit_hold: number; in_episode: number }) {
    policyStates.set(tenantId, counts)
  },
}

const SHARED: Metric<string>[] = [
  webhookDeliveries,
  postingMetrics.batchSize,
  postingMetrics.fallbacks,
  notificationSends,
  jobMetrics.processed,
  jobMetrics.wait,
  jobMetrics.duration,
  relayMetrics.published,
  relayMetrics.errors,
  httpErrors,
  retentionMetrics.rows,
  retentionMetrics.lastRunAge,
  creditPolicyMetrics.actions,
  creditPolicyMetrics.rulesFailed,
  creditPolicyMetrics.sweepDuration,
  creditPolicyMetrics.customers,
]

/** Queue states reported per job type. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'paused'] as const
/** Scrape-time work is bounded: Redis answers within this or the figure is left out. */
const SCRAPE_TIMEOUT_MS = 2000
/** Finance figures are recomputed at most this often (one transaction per tenant). */
const FIGURES_TTL_MS = 60_000
/** Audit chains are re-verified at most this often (they are rehashed whole, one tenant at a time). */
export const AUDIT_VERIFY_TTL_MS = 15 * 60_000

/** One registry per process (or per test app), so metrics never collide between instances. */
export function createMetrics(): Metrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  for (const m of SHARED) registry.registerMetric(m)
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  })
  return {
    registry,
    httpDuration,
    httpRequests,
    instrument(app) {
      app.addHook('onResponse', async (req, reply) => {
        const labels = { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) }
        httpDuration.observe(labels, reply.elapsedTime / 1000)
        httpRequests.inc(labels)
      })
      registerQueueGauges(registry, (err) => app.log.warn({ err }, 'queue metrics unavailable'))
      registerFinanceGauges(registry, app)
      registerAuditGauges(registry, app)
    },
  }
}

/** Depth by state and the age of the oldest waiting job, per job type, asked of Bull at scrape time. */
function registerQueueGauges(registry: Registry, warn: (err: unknown) => void): void {
  type Snapshot = Map<string, { counts: Record<string, number>; oldestAgeS: number }>
  // Both gauges read one snapshot per scrape (whichever collects first takes it).
  let taken: { at: number; snapshot: Promise<Snapshot> } | null = null
  const snapshot = (): Promise<Snapshot> => {
    if (!taken || Date.now() - taken.at > 1000) {
      taken = {
        at: Date.now(),
        snapshot: (async () => {
          const out: Snapshot = new Map()
          await Promise.all(
            jobTypes().map(async (type) => {
              try {
                const q = producerQueue(type)
                const counts = (await withTimeout(q.getJobCounts(), SCRAPE_TIMEOUT_MS, 'getJobCounts')) as unknown as Record<string, number>
                const [oldest] = await withTimeout(q.getJobs(['waiting'], 0, 0, true), SCRAPE_TIMEOUT_MS, 'oldest waiting job')
                out.set(type, { counts, oldestAgeS: oldest ? Math.max(0, Date.now() - oldest.timestamp) / 1000 : 0 })
              } catch (err) {
                warn(err)
              }
            }),
          )
          return out
        })(),
      }
    }
    return taken.snapshot
  }
  new Gauge({
    name: 'queue_jobs',
    help: 'Jobs per queue (job type) and state; failed = the dead letters',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      for (const [queue, { counts }] of await snapshot()) for (const state of QUEUE_STATES) this.set({ queue, state }, counts[state] ?? 0)
    },
  })
  new Gauge({
    name: 'queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting in each queue',
    labelNames: ['queue'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      for (const [queue, { oldestAgeS }] of await snapshot()) this.set({ queue }, oldestAgeS)
    },
  })
}

/**
 * The figures a finance team watches, aggregated over tenants (no tenant is named). Computed in the
 * background at most every FIGURES_TTL_MS (one transaction per tenant); a scrape waits briefly for
 * a computation in progress and otherwise reports the last figures.
 */
function registerFinanceGauges(registry: Registry, app: FastifyInstance): void {
  let last: { at: number; figures: FinanceFigures } | null = null
  let pending: Promise<void> | null = null
  const figures = async (): Promise<FinanceFigures | null> => {
    if (!pending && (!last || Date.now() - last.at > FIGURES_TTL_MS)) {
      pending = financeFigures(app.deps.db)
        .then((figures) => {
          last = { at: Date.now(), figures }
        })
        .catch((err) => app.log.warn({ err }, 'finance figures unavailable'))
        .finally(() => {
          pending = null
        })
    }
    if (pending) await Promise.race([pending, new Promise((r) => setTimeout(r, SCRAPE_TIMEOUT_MS * 2).unref())])
    return last?.figures ?? null
  }
  const gauge = (name: string, help: string, pick: (f: FinanceFigures) => Record<string, number | null>) =>
    new Gauge({
      name,
      help,
      labelNames: ['stat'] as const,
      registers: [registry],
      async collect() {
        this.reset()
        const f = await figures()
        if (!f) return
        for (const [stat, v] of Object.entries(pick(f))) if (v !== null) this.set({ stat }, v)
      },
    })
  gauge('reconciliation_open_discrepancies', 'Discrepancies of the latest reconciliation run not since repaired or cleared: total over tenants, and tenants affected', (f) => ({
    total: f.openDiscrepancies,
    tenants: f.tenantsWithDiscrepancies,
  }))
  gauge('reconciliation_seconds_since_last_clean', 'Time since each tenant’s last clean reconciliation: worst tenant (max) and mean; never = tenants without one', (f) => ({
    max: f.sinceLastClean.max,
    mean: f.sinceLastClean.mean,
    never: f.neverClean,
  }))
  gauge(
    'reconciliation_tenants',
    `Reconciliation coverage, in tenants: clean_recent = last clean reconciliation within ${RECONCILIATION_FRESH_SECONDS / 3600} h, stale = older, never = none yet, last_run_failed = latest finished run failed`,
    (f) => ({ clean_recent: f.cleanRecent, stale: f.stale, never: f.neverClean, last_run_failed: f.lastRunFailed }),
  )
  gauge('reconciliation_coverage_ratio', `Share of tenants whose last clean reconciliation is within ${RECONCILIATION_FRESH_SECONDS / 3600} h`, (f) => ({
    clean_recent: f.tenants ? f.cleanRecent / f.tenants : null,
  }))
  gauge('outbox_backlog_events', 'Outbox events not yet handed to the dispatch queue, over tenants', (f) => ({ total: f.outboxBacklog }))
  gauge('outbox_stuck_events', 'Outbox events the relay gave up on (published its maximum of times, never dispatched), over tenants: POST /v1/platform/tenants/:id/outbox/republish hands them back', (f) => ({ total: f.outboxStuck }))
  gauge('outbox_oldest_unpublished_seconds', 'Age of the oldest outbox event not yet handed to the dispatch queue (worst tenant)', (f) => ({ max: f.outboxOldestSeconds }))
  gauge('receivables_overdue_ratio', 'Share of open receivables past due, across tenants (mean, max)', (f) => ({ mean: f.overdueRatio.mean, max: f.overdueRatio.max }))
  gauge('receivables_dso_days', 'Days sales outstanding (open receivables / credit sales of the last 90 days × 90), across tenants (mean, max)', (f) => ({ mean: f.dsoDays.mean, max: f.dsoDays.max }))
  gauge('credit_utilization_ratio', 'Balances of customers with a credit limit / their limits, across tenants (mean, max)', (f) => ({ mean: f.creditUtilization.mean, max: f.creditUtilization.max }))
  gauge('tenants', 'Tenants the figures cover', (f) => ({ total: f.tenants }))
}

/**
 * Audit coverage: each tenant's audit chain re-verified (verifyAuditChain) in the background at most
 * every AUDIT_VERIFY_TTL_MS, one tenant at a time; a scrape waits briefly for a pass in progress and
 * otherwise reports the last one. Aggregated over tenants.
 */
function registerAuditGauges(registry: Registry, app: FastifyInstance): void {
  let last: AuditFigures | null = null
  let pending: Promise<void> | null = null
  const figures = async (): Promise<AuditFigures | null> => {
    if (!pending && (!last || Date.now() - last.finishedAt > AUDIT_VERIFY_TTL_MS)) {
      pending = auditFigures(app.deps.db, (tenantId, err) => app.log.warn({ err, tenantId }, 'audit chain verification failed'))
        .then((figures) => {
          last = figures
        })
        .catch((err) => app.log.warn({ err }, 'audit figures unavailable'))
        .finally(() => {
          pending = null
        })
    }
    if (pending) await Promise.race([pending, new Promise((r) => setTimeout(r, SCRAPE_TIMEOUT_MS * 2).unref())])
    return last
  }
  new Gauge({
    name: 'audit_chain_tenants',
    help: 'Tenants by the result of the last audit chain verification: verified, broken (a row tampered with, removed or out of place), error (the check failed)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      this.reset()
      const f = await figures()
      if (!f) return
      this.set({ state: 'verified' }, f.verified)
      this.set({ state: 'broken' }, f.broken)
      this.set({ state: 'error' }, f.errors)
    },
  })
  new Gauge({
    name: 'audit_chain_verified_rows',
    help: 'Audit rows rehashed by the last verification pass, over tenants',
    registers: [registry],
    async collect() {
      this.reset()
      const f = await figures()
      if (f) this.set(f.rows)
    },
  })
  new Gauge({
    name: 'audit_chain_verification_age_seconds',
    help: 'Time since the last audit chain verification pass over every tenant finished',
    registers: [registry],
    async collect() {
      this.reset()
      const f = await figures()
      if (f) this.set((Date.now() - f.finishedAt) / 1000)
    },
  })
}

import type { Db, Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { forEachTenant } from '../jobs/tenants'
import { STUCK_EVENTS_SQL } from '../outbox/outbox'
import { tenantToday } from '../../tenants/service'

/**
 * Finance figures for /metrics, per tenant then aggregated over tenants (the endpoint is public:
 * no tenant is named). Amounts are converted to each tenant's base currency at the documents' own
 * rates; ratios make tenants of different currencies comparable.
 */

export interface TenantFigures {
  /** Share of open receivables past due; null without open receivables. */
  overdueRatio: number | null
  /** Open receivables / credit sales of the last 90 days × 90; null without sales. */
  dsoDays: number | null
  /** Σ positive balances / Σ limits over customers with a credit limit; null without limits. */
  creditUtilization: number | null
  /** Discrepancies of the latest completed reconciliation, unless repaired since. */
  openDiscrepancies: number
  /** Seconds since the last completed reconciliation without discrepancies; null if none. */
  sinceLastClean: number | null
  /** The tenant's latest finished reconciliation run failed (an error, not discrepancies). */
  lastRunFailed: boolean
  /** Outbox events not yet handed to the dispatch queue, and the age of the oldest in seconds. */
  outboxBacklog: number
  outboxOldestSeconds: number
  /** Events the relay gave up on (published its maximum of times, never dispatched). */
  outboxStuck: number
}

export interface Spread {
  mean: number | null
  max: number | null
}

export interface FinanceFigures {
  tenants: number
  openDiscrepancies: number
  tenantsWithDiscrepancies: number
  neverClean: number
  /** Tenants whose last clean reconciliation finished within RECONCILIATION_FRESH_SECONDS. */
  cleanRecent: number
  /** Tenants with a clean reconciliation, but older than RECONCILIATION_FRESH_SECONDS. */
  stale: number
  lastRunFailed: number
  outboxBacklog: number
  outboxOldestSeconds: number
  outboxStuck: number
  sinceLastClean: Spread
  overdueRatio: Spread
  dsoDays: Spread
  creditUtilization: Spread
}

const DSO_WINDOW_DAYS = 90
/**
 * A clean reconciliation is "recent" for this long: the nightly run (02:00 in the tenant's
 * timezone) plus two hours of slack. core/ops/alerts.yml uses the same threshold.
 */
export const RECONCILIATION_FRESH_SECONDS = 26 * 3600

// Sums over a tenant's customers are metrics (Prometheus floats): float8 cannot overflow where a
// bigint read would pass 2^53.
export async function tenantFigures(trx: Trx, tenantId: string): Promise<TenantFigures> {
  const today = await tenantToday(trx, tenantId)
  const { rows } = await trx.raw(
    `with open_items as (
       select coalesce(sum(round(outstanding * exchange_rate)), 0)::float8 as open_base,
              coalesce(sum(round(outstanding * exchange_rate)) filter (where due_date < :today), 0)::float8 as overdue_base
         from invoices where tenant_id = :t and status <> 'void' and outstanding > 0
     ), sales as (
       select coalesce(sum(total_base), 0)::float8 as amount from invoices
        where tenant_id = :t and status <> 'void' and issue_date > :today::date - :window::int
     ), credit as (
       select coalesce(sum(greatest(b.current_balance, 0)), 0)::float8 as used, coalesce(sum(c.credit_limit), 0)::float8 as limits
         from customers c join customer_balances b on b.tenant_id = c.tenant_id and b.customer_id = c.id
        where c.tenant_id = :t and c.credit_limit > 0 and c.deleted_at is null
     ), latest as (
       select discrepancy_count, repaired_at from reconciliation_runs
        where tenant_id = :t and status = 'completed' order by finished_at desc limit 1
     )
     select o.open_base, o.overdue_base, s.amount as sales, c.used, c.limits,
            coalesce((select case when repaired_at is null then discrepancy_count else 0 end from latest), 0) as open_discrepancies,
            (select extract(epoch from now() - max(finished_at)) from reconciliation_runs
              where tenant_id = :t and status = 'completed' and discrepancy_count = 0) as since_clean,
            coalesce((select status = 'failed' from reconciliation_runs
              where tenant_id = :t and status in ('completed', 'failed') and finished_at is not null
              order by finished_at desc limit 1), false) as last_run_failed,
            ob.backlog, ob.oldest_s,
            (select count(*)::int from events where tenant_id = :t and ${STUCK_EVENTS_SQL}) as stuck
       from open_items o, sales s, credit c,
            (select count(*)::int as backlog, coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest_s
               from events where tenant_id = :t and published_at is null) ob`,
    { t: tenantId, today, window: DSO_WINDOW_DAYS },
  )
  const r = rows[0]
  return {
    overdueRatio: r.open_base > 0 ? r.overdue_base / r.open_base : null,
    dsoDays: r.sales > 0 ? (r.open_base / r.sales) * DSO_WINDOW_DAYS : null,
    creditUtilization: r.limits > 0 ? r.used / r.limits : null,
    openDiscrepancies: Number(r.open_discrepancies),
    sinceLastClean: r.since_clean === null ? null : Number(r.since_clean),
    lastRunFailed: r.last_run_failed === true,
    outboxBacklog: Number(r.backlog),
    outboxOldestSeconds: Math.max(0, Number(r.oldest_s)),
    outboxStuck: Number(r.stuck),
  }
}

function spread(values: (number | null)[]): Spread {
  const v = values.filter((x): x is number => x !== null)
  return v.length ? { mean: v.reduce((a, b) => a + b, 0) / v.length, max: Math.max(...v) } : { mean: null, max: null }
}

/** Every tenant's figures, aggregated (two tenants at a time, so scrapes never crowd the pool). */
export async function financeFigures(db: Db): Promise<FinanceFigures> {
  const all: TenantFigures[] = []
  await forEachTenant(db, async (tenantId) => void all.push(await withTenant(db, tenantId, (trx) => tenantFigures(trx, tenantId))), { concurrency: 2 })
  return {
    tenants: all.length,
    openDiscrepancies: all.reduce((s, f) => s + f.openDiscrepancies, 0),
    tenantsWithDiscrepancies: all.filter((f) => f.openDiscrepancies > 0).length,
    neverClean: all.filter((f) => f.sinceLastClean === null).length,
    cleanRecent: all.filter((f) => f.sinceLastClean !== null && f.sinceLastClean <= RECONCILIATION_FRESH_SECONDS).length,
    stale: all.filter((f) => f.sinceLastClean !== null && f.sinceLastClean > RECONCILIATION_FRESH_SECONDS).length,
    lastRunFailed: all.filter((f) => f.lastRunFailed).length,
    outboxBacklog: all.reduce((s, f) => s + f.outboxBacklog, 0),
    outboxOldestSeconds: all.reduce((m, f) => Math.max(m, f.outboxOldestSeconds), 0),
    outboxStuck: all.reduce((s, f) => s + f.outboxStuck, 0),
    sinceLastClean: spread(all.map((f) => f.sinceLastClean)),
    overdueRatio: spread(all.map((f) => f.overdueRatio)),
    dsoDays: spread(all.map((f) => f.dsoDays)),
    creditUtilization: spread(all.map((f) => f.creditUtilization)),
  }
}

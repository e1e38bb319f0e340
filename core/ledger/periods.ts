import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { paginate, page } from '../kernel/pagination'
import { checkLedger } from './integrity'
import { afterCommit } from '../kernel/db/tenant'
import type { CreatePeriodInput, ListPeriodsQuery, PeriodStatus, PeriodType } from '../periods/schemas'

/**
 * Accounting periods: open → closed → locked. The database refuses any journal entry dated inside
 * a closed or locked period (statement trigger `journal_entries_open_period`, which takes the period rows FOR
 * SHARE); close and lock take it FOR UPDATE, so they wait for postings in flight.
 */

export interface PeriodRow {
  id: string
  type: PeriodType
  start_date: string
  end_date: string
  status: PeriodStatus
  closed_at: Date | null
  closed_by: string | null
  locked_at: Date | null
  locked_by: string | null
  created_at: Date
}

/** Discrepancies listed in a refused close; the rest are counted. */
const MAX_REPORTED_DISCREPANCIES = 100

export function periodView(p: PeriodRow) {
  return {
    id: p.id,
    object: 'period' as const,
    type: p.type,
    start_date: p.start_date,
    end_date: p.end_date,
    status: p.status,
    closed_at: p.closed_at ? p.closed_at.toISOString() : null,
    closed_by: p.closed_by,
    locked_at: p.locked_at ? p.locked_at.toISOString() : null,
    locked_by: p.locked_by,
    created: p.created_at.toISOString(),
  }
}

const MONTHS: Record<PeriodType, number> = { monthly: 1, quarterly: 3, yearly: 12 }

/**
 * The last day of the period of `type` that starts on `start`, or null when `start` cannot start
 * one (not the first day of a month, a calendar quarter or a calendar year).
 */
export function periodEnd(type: PeriodType, start: string): string | null {
  const [y, m, d] = start.split('-').map(Number)
  if (d !== 1) return null
  if (type === 'quarterly' && (m - 1) % 3 !== 0) return null
  if (type === 'yearly' && m !== 1) return null
  // Day 0 of the month after the period is its last day.
  return new Date(Date.UTC(y, m - 1 + MONTHS[type], 0)).toISOString().slice(0, 10)
}

function actor(ctx: RequestContext): string {
  return ctx.keyId ?? ctx.role
}

export async function createPeriod(trx: Trx, ctx: RequestContext, input: CreatePeriodInput) {
  const end = periodEnd(input.type, input.start_date)
  if (end === null) {
    const what = { monthly: 'the first day of a month', quarterly: 'the first day of a calendar quarter', yearly: 'January 1st' }[input.type]
    throw new AppError('validation_failed', `A ${input.type} period starts on ${what}.`, { param: 'start_date' })
  }
  if (input.end_date !== end) throw new AppError('validation_failed', `A ${input.type} period starting ${input.start_date} ends ${end}.`, { param: 'end_date' })
  const id = newId('per')
  let row: PeriodRow
  try {
    ;[row] = await trx('accounting_periods')
      .insert({ tenant_id: ctx.tenantId, id, type: input.type, start_date: input.start_date, end_date: input.end_date })
      .returning('*')
  } catch (err) {
    if ((err as { code?: string }).code === '23P01') {
      throw new AppError('period_overlap', `${input.start_date}..${input.end_date} overlaps an existing period.`, { param: 'start_date' })
    }
    throw err
  }
  const view = periodView(row)
  await recordAudit(trx, ctx, { action: 'period.created', entity_type: 'period', entity_id: id, after: view })
  return view
}

export async function listPeriods(trx: Trx, ctx: RequestContext, q: ListPeriodsQuery) {
  const query = trx('accounting_periods').where({ tenant_id: ctx.tenantId })
  if (q.status) query.andWhere({ status: q.status })
  const { rows, has_more } = await paginate<PeriodRow>(query, q)
  return page(rows.map(periodView), has_more)
}

async function findPeriod(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<PeriodRow> {
  const query = trx('accounting_periods').where({ tenant_id: ctx.tenantId, id })
  if (opts.forUpdate) query.forUpdate()
  const row: PeriodRow | undefined = await query.first()
  if (!row) throw notFound('period', id, 'id')
  return row
}

export async function getPeriod(trx: Trx, ctx: RequestContext, id: string) {
  return periodView(await findPeriod(trx, ctx, id))
}

function assertStatus(p: PeriodRow, expected: PeriodStatus, action: string): void {
  if (p.status !== expected) throw new AppError('invalid_state', `Only a${expected === 'open' ? 'n' : ''} ${expected} period can be ${action}; this one is ${p.status}.`)
}

async function transition(
  trx: Trx,
  ctx: RequestContext,
  before: PeriodRow,
  changes: Partial<Record<keyof PeriodRow, unknown>>,
  audit: { action: string; reason?: string },
) {
  const [row] = await trx('accounting_periods').where({ tenant_id: ctx.tenantId, id: before.id }).update(changes).returning('*')
  if (row.status !== 'open') {
    // Now, and once committed: a batch in between may have read the period still open.
    evictOpenDates(ctx.tenantId)
    afterCommit(trx, () => evictOpenDates(ctx.tenantId))
  }
  const view = periodView(row)
  await recordAudit(trx, ctx, {
    action: audit.action,
    entity_type: 'period',
    entity_id: before.id,
    before: { status: before.status },
    after: { status: row.status },
    reason: audit.reason ?? null,
  })
  await emitEvent(trx, ctx, audit.action, view)
  return view
}

/**
 * Closes an open period after reconciliation: refused (`reconciliation_failed`, discrepancies in
 * the details) when a cached balance disagrees with the ledger.
 */
export async function closePeriod(trx: Trx, ctx: RequestContext, id: string) {
  const period = await findPeriod(trx, ctx, id, { forUpdate: true })
  assertStatus(period, 'open', 'closed')
  const discrepancies = await checkLedger(trx, ctx.tenantId)
  if (discrepancies.length) {
    throw new AppError('reconciliation_failed', `Cached balances disagree with the ledger (${discrepancies.length} discrepancies): the period stays open.`, {
      details: { count: discrepancies.length, discrepancies: discrepancies.slice(0, MAX_REPORTED_DISCREPANCIES) },
    })
  }
  return transition(trx, ctx, period, { status: 'closed', closed_at: trx.fn.now(), closed_by: actor(ctx) }, { action: 'period.closed' })
}

/** Reopens a closed period (never a locked one); the reason is audited. */
export async function reopenPeriod(trx: Trx, ctx: RequestContext, id: string, reason: string) {
  const period = await findPeriod(trx, ctx, id, { forUpdate: true })
  assertStatus(period, 'closed', 'reopened')
  return transition(trx, ctx, period, { status: 'open', closed_at: null, closed_by: null }, { action: 'period.reopened', reason })
}

/** Locks a closed period: final, it can never be reopened. */
export async function lockPeriod(trx: Trx, ctx: RequestContext, id: string) {
  const period = await findPeriod(trx, ctx, id, { forUpdate: true })
  assertStatus(period, 'closed', 'locked')
  return transition(trx, ctx, period, { status: 'locked', locked_at: trx.fn.now(), locked_by: actor(ctx) }, { action: 'period.locked' })
}

/**
 * Dates of a tenant known to fall in no closed or locked period, cached per process for a few
 * seconds, so a posting batch's pre-check costs no round trip (`tenant|date` → expiry). Only "open"
 * is cached, and the pre-check is not the guard: the journal's insert trigger is. A close or lock in
 * this process evicts the tenant's dates (evictOpenDates, after its commit); one in another process
 * is found by the trigger, whose `period_closed` fails the batch (the plan then evicts them too),
 * and each request rerun alone answers `period_closed`.
 */
const OPEN_DATES_TTL_MS = 5_000
/** Past this many entries the cache is emptied (backdated imports touch many dates). */
const OPEN_DATES_MAX = 10_000
const openDates = new Map<string, number>()

/** Forgets the dates of a tenant known to be open (a period of it closed or locked). */
export function evictOpenDates(tenantId: string): void {
  const prefix = `${tenantId}|`
  for (const k of openDates.keys()) if (k.startsWith(prefix)) openDates.delete(k)
}

/**
 * The status of the closed or locked period `date` falls in, or null when it is open (or in no
 * period). A pre-check so a request can answer `period_closed` alone; the journal's insert trigger
 * is the authority (it takes the period FOR SHARE, so a close waits for postings in flight).
 */
export async function closedPeriodOf(trx: Trx, tenantId: string, date: string): Promise<string | null> {
  const key = `${tenantId}|${date}`
  if ((openDates.get(key) ?? 0) > Date.now()) return null
  const row = await trx('accounting_periods')
    .where({ tenant_id: tenantId })
    .where('start_date', '<=', date)
    .where('end_date', '>=', date)
    .whereNot('status', 'open')
    .first('status')
  if (row) return row.status
  if (openDates.size >= OPEN_DATES_MAX) openDates.clear()
  openDates.set(key, Date.now() + OPEN_DATES_TTL_MS)
  return null
}

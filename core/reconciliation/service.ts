import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paginate, page } from '../kernel/pagination'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { checkLedger, type Discrepancy } from '../ledger/integrity'
import type { ListRunsQuery, RunStatus, RunTrigger } from './schemas'

/**
 * Reconciliation: a run checks the tenant's cached balances and open items against the ledger
 * (invariants 1–5, core/ledger/integrity.ts), records what disagrees and says so with a
 * `reconciliation.discrepancy_detected` event. Repairing is a separate, approved and audited action
 * that rebuilds the caches of the affected customers from the ledger; the ledger itself is never
 * edited (a ledger discrepancy needs a correcting entry).
 */

/** Discrepancies recorded per run (the count covers them all). */
export const MAX_RECORDED = 1000
/** Discrepancies carried in the event. */
const MAX_IN_EVENT = 100

export interface RunRow {
  tenant_id: string
  id: string
  status: RunStatus
  trigger: RunTrigger
  checked: number | null
  discrepancy_count: number | null
  error: string | null
  created_by: string | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
  repaired_at: Date | null
  repaired_by: string | null
  repair_reason: string | null
}

interface DiscrepancyRow {
  line_no: number
  kind: string
  customer_id: string | null
  invoice_id: string | null
  entry_id: string | null
  transaction_id: string | null
  currency: string | null
  field: string
  cached: number | string
  ledger: number | string
  difference: number | null
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

function discrepancyView(d: Discrepancy) {
  return {
    check: d.check,
    customer: d.customer ?? null,
    invoice: d.invoice ?? null,
    entry: d.entry ?? null,
    transaction: d.transaction ?? null,
    currency: d.currency ?? null,
    field: d.field,
    cached: d.cached,
    ledger: d.ledger,
    difference: d.difference,
  }
}

function fromRow(r: DiscrepancyRow): Discrepancy {
  return {
    check: r.kind as Discrepancy['check'],
    ...(r.customer_id ? { customer: r.customer_id } : {}),
    ...(r.invoice_id ? { invoice: r.invoice_id } : {}),
    ...(r.entry_id ? { entry: r.entry_id } : {}),
    ...(r.transaction_id ? { transaction: r.transaction_id } : {}),
    ...(r.currency ? { currency: r.currency } : {}),
    field: r.field,
    cached: r.cached,
    ledger: r.ledger,
    difference: r.difference,
  }
}

export function runSummaryView(run: RunRow) {
  return {
    id: run.id,
    object: 'reconciliation' as const,
    status: run.status,
    trigger: run.trigger,
    checked: run.checked,
    discrepancy_count: run.discrepancy_count,
    error: run.error,
    created: run.created_at.toISOString(),
    started: iso(run.started_at),
    finished: iso(run.finished_at),
    repaired: run.repaired_at ? { at: run.repaired_at.toISOString(), by: run.repaired_by, reason: run.repair_reason ?? '' } : null,
  }
}

export function runView(run: RunRow, discrepancies: Discrepancy[]) {
  return { ...runSummaryView(run), discrepancies: discrepancies.map(discrepancyView) }
}

async function loadRun(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<RunRow> {
  const q = trx('reconciliation_runs').where({ tenant_id: ctx.tenantId, id })
  if (opts.forUpdate) q.forUpdate()
  const run: RunRow | undefined = await q.first()
  if (!run) throw notFound('reconciliation', id, 'id')
  return run
}

async function loadDiscrepancies(trx: Trx, ctx: RequestContext, runId: string): Promise<Discrepancy[]> {
  const rows: DiscrepancyRow[] = await trx('reconciliation_discrepancies').where({ tenant_id: ctx.tenantId, run_id: runId }).orderBy('line_no')
  return rows.map(fromRow)
}

/** A queued run; the caller enqueues its job after commit (see enqueueRun). */
export async function createRun(trx: Trx, ctx: RequestContext, trigger: RunTrigger): Promise<RunRow> {
  const [run] = await trx('reconciliation_runs')
    .insert({ tenant_id: ctx.tenantId, id: newId('rec'), status: 'queued', trigger, created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  return run
}

export async function requestRun(trx: Trx, ctx: RequestContext, trigger: RunTrigger = 'manual') {
  return runView(await createRun(trx, ctx, trigger), [])
}

export async function getRun(trx: Trx, ctx: RequestContext, id: string) {
  const run = await loadRun(trx, ctx, id)
  return runView(run, await loadDiscrepancies(trx, ctx, id))
}

export async function listRuns(trx: Trx, ctx: RequestContext, q: ListRunsQuery) {
  const query = trx('reconciliation_runs').where({ tenant_id: ctx.tenantId })
  if (q.status) query.where({ status: q.status })
  const { rows, has_more } = await paginate<RunRow>(query, q)
  return page(rows.map(runSummaryView), has_more)
}

/**
 * The unfinished nightly run to resume, so a retried nightly job continues its run instead of
 * starting another; else a new one.
 */
export async function nightlyRun(trx: Trx, ctx: RequestContext): Promise<RunRow> {
  const open: RunRow | undefined = await trx('reconciliation_runs')
    .where({ tenant_id: ctx.tenantId, trigger: 'nightly' })
    .whereIn('status', ['queued', 'running'])
    .where('created_at', '>', trx.raw(`now() - interval '1 day'`))
    .orderBy('created_at', 'desc')
    .first()
  return open ?? createRun(trx, ctx, 'nightly')
}

/** Marks the run running; false when it has already finished (a duplicate or late job). */
export async function startRun(trx: Trx, ctx: RequestContext, id: string): Promise<boolean> {
  const run = await loadRun(trx, ctx, id, { forUpdate: true })
  if (run.status === 'completed' || run.status === 'failed') return false
  await trx('reconciliation_runs').where({ tenant_id: ctx.tenantId, id }).update({ status: 'running', started_at: trx.fn.now(), error: null })
  return true
}

/** Checks the ledger, records the discrepancies, completes the run and emits the event if any. */
export async function completeRun(trx: Trx, ctx: RequestContext, id: string) {
  const run = await loadRun(trx, ctx, id, { forUpdate: true })
  if (run.status !== 'running') return runView(run, await loadDiscrepancies(trx, ctx, id))
  const found = await checkLedger(trx, ctx.tenantId)
  const { rows } = await trx.raw(
    `select (select count(*) from customer_balances where tenant_id = :t)
          + (select count(*) from invoices where tenant_id = :t)
          + (select count(*) from journal_entries where tenant_id = :t) as checked`,
    { t: ctx.tenantId },
  )
  const recorded = found.slice(0, MAX_RECORDED)
  if (recorded.length) {
    await trx('reconciliation_discrepancies').insert(
      recorded.map((d, i) => ({
        tenant_id: ctx.tenantId,
        run_id: id,
        line_no: i + 1,
        kind: d.check,
        customer_id: d.customer ?? null,
        invoice_id: d.invoice ?? null,
        entry_id: d.entry ?? null,
        transaction_id: d.transaction ?? null,
        currency: d.currency ?? null,
        field: d.field,
        cached: JSON.stringify(d.cached),
        ledger: JSON.stringify(d.ledger),
        difference: d.difference,
      })),
    )
  }
  const [done] = await trx('reconciliation_runs')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'completed', checked: Number(rows[0].checked), discrepancy_count: found.length, finished_at: trx.fn.now() })
    .returning('*')
  if (found.length) {
    await emitEvent(trx, ctx, 'reconciliation.discrepancy_detected', runView(done, recorded.slice(0, MAX_IN_EVENT)))
  }
  return runView(done, recorded)
}

export async function failRun(trx: Trx, ctx: RequestContext, id: string, message: string): Promise<void> {
  await trx('reconciliation_runs')
    .where({ tenant_id: ctx.tenantId, id })
    .whereIn('status', ['queued', 'running'])
    .update({ status: 'failed', error: message.slice(0, 1000), finished_at: trx.fn.now() })
}

/** Runs whose job may have been lost (Redis flushed, enqueue failed after commit). */
export async function staleRunIds(trx: Trx, tenantId: string, olderThanMs: number, limit = 100): Promise<string[]> {
  const rows: { id: string }[] = await trx('reconciliation_runs')
    .where({ tenant_id: tenantId })
    .where((q) =>
      q
        .where((q2) => q2.where({ status: 'queued' }).where('created_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [olderThanMs / 1000])))
        .orWhere((q2) => q2.where({ status: 'running' }).where('started_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [olderThanMs / 1000]))),
    )
    .orderBy('created_at')
    .limit(limit)
    .select('id')
  return rows.map((r) => r.id)
}

type Change = { customer: string; invoice: string | null; field: string; before: number | string; after: number | string }

const derivedStatus = (outstanding: number, total: number) => (outstanding === 0 ? 'paid' : outstanding < total ? 'partially_paid' : 'open')

/**
 * Rebuilds the caches of the customers the run found drifting: customer_balances (pending from the
 * AR sub-ledger, advance from the advances lines) and their invoices' outstanding and status, from
 * a fresh check taken while their balance rows are locked (the posting lock, taken first as every
 * posting does), so no posting changes them in between. One audit row per change, with the reason.
 */
export async function repairRun(trx: Trx, ctx: RequestContext, id: string, reason: string) {
  const run = await loadRun(trx, ctx, id, { forUpdate: true })
  if (run.status !== 'completed') throw new AppError('invalid_state', 'Only a completed reconciliation can be repaired.')
  if (run.repaired_at) throw new AppError('invalid_state', 'This reconciliation has already been repaired.')
  if (!run.discrepancy_count) throw new AppError('invalid_state', 'This reconciliation found nothing to repair.')
  const recorded = await loadDiscrepancies(trx, ctx, id)
  const customers = [...new Set(recorded.map((d) => d.customer).filter((c): c is string => !!c))].sort()

  await trx('customer_balances').where({ tenant_id: ctx.tenantId }).whereIn('customer_id', customers).orderBy('customer_id').forUpdate().select('customer_id')
  const affected = new Set(customers)
  const fresh = (await checkLedger(trx, ctx.tenantId)).filter((d) => d.customer && affected.has(d.customer))

  const changes: Change[] = []
  const invoiceFixes = fresh.filter((d) => d.check === 'invoice_outstanding' && d.invoice && typeof d.ledger === 'number')
  const statusFixes = new Set(fresh.filter((d) => d.check === 'invoice_status' && d.invoice).map((d) => d.invoice!))
  const invoiceIds = [...new Set([...invoiceFixes.map((d) => d.invoice!), ...statusFixes])].sort()
  const invoices: { id: string; customer_id: string; total: number; outstanding: number; status: string }[] = invoiceIds.length
    ? await trx('invoices').where({ tenant_id: ctx.tenantId }).whereIn('id', invoiceIds).orderBy('id').forUpdate().select('id', 'customer_id', 'total', 'outstanding', 'status')
    : []
  for (const inv of invoices) {
    const fix = invoiceFixes.find((d) => d.invoice === inv.id)
    const outstanding = fix && (fix.ledger as number) >= 0 && (fix.ledger as number) <= inv.total ? (fix.ledger as number) : inv.outstanding
    const status = inv.status === 'void' ? 'void' : derivedStatus(outstanding, inv.total)
    if (outstanding === inv.outstanding && status === inv.status) continue
    await trx('invoices').where({ tenant_id: ctx.tenantId, id: inv.id }).update({ outstanding, status, updated_at: trx.fn.now() })
    if (outstanding !== inv.outstanding) changes.push({ customer: inv.customer_id, invoice: inv.id, field: 'outstanding', before: inv.outstanding, after: outstanding })
    if (status !== inv.status) changes.push({ customer: inv.customer_id, invoice: inv.id, field: 'status', before: inv.status, after: status })
  }

  const balanceFixes = new Map<string, { pending_balance?: number; advance_balance?: number }>()
  for (const d of fresh) {
    if (typeof d.ledger !== 'number') continue
    if (d.check === 'pending_balance' && d.field === 'pending_balance') balanceFixes.set(d.customer!, { ...balanceFixes.get(d.customer!), pending_balance: d.ledger })
    if (d.check === 'advance_balance' && d.field === 'advance_balance' && d.ledger >= 0) balanceFixes.set(d.customer!, { ...balanceFixes.get(d.customer!), advance_balance: d.ledger })
  }
  for (const [customer, fix] of [...balanceFixes].sort(([a], [b]) => a.localeCompare(b))) {
    const [before] = await trx('customer_balances').where({ tenant_id: ctx.tenantId, customer_id: customer }).select('pending_balance', 'advance_balance')
    if (!before) continue
    await trx('customer_balances')
      .where({ tenant_id: ctx.tenantId, customer_id: customer })
      .update({ ...fix, version: trx.raw('version + 1'), updated_at: trx.fn.now() })
    for (const field of ['pending_balance', 'advance_balance'] as const) {
      if (fix[field] !== undefined && fix[field] !== before[field]) changes.push({ customer, invoice: null, field, before: before[field], after: fix[field]! })
    }
  }

  for (const c of changes) {
    await recordAudit(trx, ctx, {
      action: 'reconciliation.repaired',
      entity_type: c.invoice ? 'invoice' : 'customer_balance',
      entity_id: c.invoice ?? c.customer,
      before: { [c.field]: c.before },
      after: { [c.field]: c.after, reconciliation: id },
      reason,
    })
  }
  const [repaired] = await trx('reconciliation_runs')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ repaired_at: trx.fn.now(), repaired_by: ctx.keyId ?? ctx.role, repair_reason: reason })
    .returning('*')
  const unrepaired = changes.length ? (await checkLedger(trx, ctx.tenantId)).filter((d) => d.customer && affected.has(d.customer)) : fresh
  await recordAudit(trx, ctx, {
    action: 'reconciliation.repair',
    entity_type: 'reconciliation',
    entity_id: id,
    before: { discrepancy_count: run.discrepancy_count },
    after: { changes: changes.length, unrepaired: unrepaired.length },
    reason,
  })
  return { ...runView(repaired, recorded), changes, unrepaired: unrepaired.map(discrepancyView) }
}

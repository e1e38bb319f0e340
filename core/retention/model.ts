import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { RETENTION_DATA_TYPES, type RetentionAction, type RetentionDataType, type RetentionPolicy } from '../kernel/plugins/contract'

/**
 * Retention's record: the tenant's policy overrides, the runs, the archive schema, and the
 * set-based selection, purge and archival of each data type. Retention is the data lifecycle of
 * tables other records own (events, idempotency keys, webhook deliveries, notifications,
 * communications, the audit log): the lifecycle SQL lives here, in one place, and touches those
 * tables only to delete or copy out rows past their retention; it never changes a row in place and
 * never touches the ledger (journal entries and lines, customer transactions, balances, document
 * amounts). See README "Retention".
 *
 * Every operation works on one chunk (at most `limit` rows, in key order) inside the caller's
 * transaction and returns how many rows it handled, so a run is a sequence of short transactions
 * and a run resumed after a crash simply finds what is left.
 */

export type RunStatus = 'queued' | 'running' | 'completed' | 'failed'
export type RunTrigger = 'manual' | 'nightly'
export type Counts = Partial<Record<RetentionDataType, number>>

export interface RunRow {
  tenant_id: string
  id: string
  status: RunStatus
  trigger: RunTrigger
  as_of: string
  policies: RetentionPolicy[] | null
  counts: { done?: Counts; skipped?: Counts }
  error: string | null
  created_by: string | null
  created_at: Date
  started_at: Date | null
  finished_at: Date | null
}

export interface Override {
  data_type: RetentionDataType
  retain_days: number
  action: RetentionAction
}

// ---- policies -----------------------------------------------------------------------------------

export async function listOverrides(trx: Trx, ctx: RequestContext): Promise<Override[]> {
  return trx('retention_policies').where({ tenant_id: ctx.tenantId }).select('data_type', 'retain_days', 'action')
}

export async function getOverride(trx: Trx, ctx: RequestContext, dataType: RetentionDataType, opts: { forUpdate?: boolean } = {}): Promise<Override | undefined> {
  const q = trx('retention_policies').where({ tenant_id: ctx.tenantId, data_type: dataType }).select('data_type', 'retain_days', 'action')
  if (opts.forUpdate) q.forUpdate()
  return q.first()
}

export async function saveOverride(trx: Trx, ctx: RequestContext, o: Override): Promise<void> {
  await trx('retention_policies')
    .insert({ tenant_id: ctx.tenantId, ...o, updated_by: ctx.keyId ?? ctx.role })
    .onConflict(['tenant_id', 'data_type'])
    .merge({ retain_days: o.retain_days, action: o.action, updated_by: ctx.keyId ?? ctx.role, updated_at: trx.fn.now() })
}

// ---- runs ---------------------------------------------------------------------------------------

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const asDate = (d: string | Date) => (typeof d === 'string' ? d : d.toISOString().slice(0, 10))

export function runView(run: RunRow) {
  const done = run.counts?.done ?? {}
  const skipped = run.counts?.skipped ?? {}
  return {
    id: run.id,
    object: 'retention_run' as const,
    status: run.status,
    trigger: run.trigger,
    as_of: asDate(run.as_of),
    counts: Object.fromEntries(RETENTION_DATA_TYPES.map((t) => [t, done[t] ?? 0])),
    skipped: Object.fromEntries(RETENTION_DATA_TYPES.map((t) => [t, skipped[t] ?? 0])),
    policies: run.policies ?? [],
    error: run.error,
    created: run.created_at.toISOString(),
    started: iso(run.started_at),
    finished: iso(run.finished_at),
  }
}

export async function createRun(trx: Trx, ctx: RequestContext, trigger: RunTrigger, asOf: string): Promise<RunRow> {
  const [run] = await trx('retention_runs')
    .insert({ tenant_id: ctx.tenantId, id: newId('rtr'), status: 'queued', trigger, as_of: asOf, created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  return run
}

export async function loadRun(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<RunRow> {
  const q = trx('retention_runs').where({ tenant_id: ctx.tenantId, id })
  if (opts.forUpdate) q.forUpdate()
  const run: RunRow | undefined = await q.first()
  if (!run) throw notFound('retention run', id, 'id')
  return run
}

/** The unfinished nightly run of the last day (a retried nightly job resumes it), else none. */
export async function openNightlyRun(trx: Trx, ctx: RequestContext): Promise<RunRow | undefined> {
  return trx('retention_runs')
    .where({ tenant_id: ctx.tenantId, trigger: 'nightly' })
    .whereIn('status', ['queued', 'running'])
    .where('created_at', '>', trx.raw(`now() - interval '1 day'`))
    .orderBy('created_at', 'desc')
    .first()
}

/** Marks the run running with the policies it applies; false when it has already finished. */
export async function startRun(trx: Trx, ctx: RequestContext, id: string, policies: RetentionPolicy[]): Promise<RunRow | null> {
  const run = await loadRun(trx, ctx, id, { forUpdate: true })
  if (run.status === 'completed' || run.status === 'failed') return null
  // A resumed run keeps the policies it started with.
  const [row] = await trx('retention_runs')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'running', started_at: run.started_at ?? trx.fn.now(), error: null, policies: JSON.stringify(run.policies ?? policies) })
    .returning('*')
  return row
}

/** Adds a chunk's count in the chunk's own transaction, so a resumed run counts each row once. */
export async function addCount(trx: Trx, ctx: RequestContext, id: string, kind: 'done' | 'skipped', dataType: RetentionDataType, n: number): Promise<void> {
  if (!n) return
  await trx.raw(
    `update retention_runs set counts = jsonb_set(jsonb_set(counts, array[?], coalesce(counts->?, '{}'::jsonb), true),
                                                  array[?, ?], to_jsonb(coalesce((counts->?->>?)::bigint, 0) + ?), true)
      where tenant_id = ? and id = ?`,
    [kind, kind, kind, dataType, kind, dataType, n, ctx.tenantId, id],
  )
}

export async function finishRun(trx: Trx, ctx: RequestContext, id: string, outcome: { error?: string }): Promise<RunRow> {
  const [row] = await trx('retention_runs')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: outcome.error ? 'failed' : 'completed', error: outcome.error ?? null, finished_at: trx.fn.now() })
    .returning('*')
  return row
}

/** Runs still queued or running this long after they were created have lost their job. */
export async function staleRunIds(trx: Trx, tenantId: string, olderThanMs: number): Promise<string[]> {
  const rows: { id: string }[] = await trx('retention_runs')
    .where({ tenant_id: tenantId })
    .whereIn('status', ['queued', 'running'])
    .where('created_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [olderThanMs / 1000]))
    .select('id')
  return rows.map((r) => r.id)
}

// ---- selection ----------------------------------------------------------------------------------

/**
 * The rows of one data type past `cutoff` (an instant: the start of the tenant's accounting day
 * minus retain_days), as SQL over alias `x`, with named bindings :t (tenant) and :cutoff. Each
 * predicate leaves alone what another record still needs: unfinished deliveries and notifications,
 * unpublished events, events a delivery or notifications a communication still points at, and the
 * newest audit row of each lane (the chain continues from it).
 */
const SELECT: Record<Exclude<RetentionDataType, 'soft_deleted_customers'>, { table: string; key: string; where: string }> = {
  communications: { table: 'communications', key: 'id', where: `x.created_at < :cutoff` },
  notifications: {
    table: 'notifications',
    key: 'id',
    where: `x.created_at < :cutoff and x.status in ('sent', 'failed', 'dead', 'suppressed')
            and not exists (select 1 from communications c where c.tenant_id = x.tenant_id and c.notification_id = x.id and not (__COMMUNICATIONS_GO__))`,
  },
  webhook_deliveries: { table: 'webhook_deliveries', key: 'id', where: `x.created_at < :cutoff and x.status <> 'pending'` },
  events: {
    table: 'events',
    key: 'id',
    where: `x.created_at < :cutoff and x.published_at is not null
            and not exists (select 1 from webhook_deliveries d where d.tenant_id = x.tenant_id and d.event_id = x.id and not (__DELIVERIES_GO__))`,
  },
  idempotency_keys: { table: 'idempotency_keys', key: 'key', where: `x.created_at < :cutoff` },
  audit_log: {
    table: 'audit_log',
    key: 'seq',
    where: `x.created_at < :cutoff
            and exists (select 1 from audit_log n where n.tenant_id = x.tenant_id and n.lane = x.lane and n.lane_seq > x.lane_seq)`,
  },
  documents: {
    table: 'invoices',
    key: 'id',
    where: `x.issue_date < cast(:cutoff as date) and x.outstanding = 0 and x.status in ('paid', 'void')
            and not exists (select 1 from archive.documents a where a.tenant_id = x.tenant_id and a.document_type = 'invoice' and a.id = x.id)`,
  },
}

/** Cutoffs of the types other predicates depend on; `null` (never) when that type is not due in this run. */
export interface Cutoffs {
  communications: string | null
  webhook_deliveries: string | null
}

/**
 * The predicate of a data type. `planned`: in a dry run, rows that the same run would first remove
 * from the tables it depends on (communications before notifications, deliveries before events)
 * count as gone, so a dry run counts what the run does; during the run they are really gone.
 */
function predicate(type: keyof typeof SELECT, cutoffs: Cutoffs, planned: boolean): { sql: string; bindings: Record<string, unknown> } {
  const extra: Record<string, unknown> = {}
  let where = SELECT[type].where
  const dep = (marker: string, name: string, alias: string, cond: string, cutoff: string | null) => {
    if (planned && cutoff) {
      extra[name] = cutoff
      where = where.replace(marker, cond.replace(/%/g, alias))
    } else where = where.replace(marker, 'false')
  }
  dep('__COMMUNICATIONS_GO__', 'comm_cutoff', 'c', `%.created_at < :comm_cutoff`, cutoffs.communications)
  dep('__DELIVERIES_GO__', 'deliv_cutoff', 'd', `%.created_at < :deliv_cutoff and %.status <> 'pending'`, cutoffs.webhook_deliveries)
  return { sql: where, bindings: extra }
}

/** How many rows of a type are past the cutoff (dry run). */
export async function countDue(trx: Trx, ctx: RequestContext, type: RetentionDataType, cutoff: string, cutoffs: Cutoffs): Promise<number> {
  if (type === 'soft_deleted_customers') {
    const { rows } = await trx.raw(`select count(*)::int as n from customers x where ${DELETED_CUSTOMERS}`, { t: ctx.tenantId, cutoff })
    return rows[0].n
  }
  const p = predicate(type, cutoffs, true)
  const { rows } = await trx.raw(`select count(*)::int as n from ${SELECT[type].table} x where x.tenant_id = :t and ${p.sql}`, { t: ctx.tenantId, cutoff, ...p.bindings })
  return rows[0].n
}

const NO_CUTOFFS: Cutoffs = { communications: null, webhook_deliveries: null }

async function dueKeys(trx: Trx, ctx: RequestContext, type: keyof typeof SELECT, cutoff: string, limit: number): Promise<string[]> {
  const { table, key } = SELECT[type]
  const p = predicate(type, NO_CUTOFFS, false)
  // Audit rows are never updated (the runtime role may not lock them): concurrent runs of a tenant
  // would both copy (on conflict do nothing) and both delete, which is harmless.
  const lock = type === 'audit_log' ? '' : 'for update skip locked'
  const { rows } = await trx.raw(`select x.${key} as k from ${table} x where x.tenant_id = :t and ${p.sql} order by x.${key} limit :limit ${lock}`, {
    t: ctx.tenantId,
    cutoff,
    limit,
    ...p.bindings,
  })
  return rows.map((r: { k: string | number }) => String(r.k))
}

// ---- one chunk ----------------------------------------------------------------------------------

const ARCHIVED_COLUMNS: Partial<Record<RetentionDataType, string>> = {
  events: 'tenant_id, id, type, data, request_id, idempotency_key, created_at, published_at, customer_id',
  notifications: `tenant_id, id, customer_id, template, channel_id, recipient, data, status, suppressed_reason, source, source_ref, attempt_count,
                  next_attempt_at, provider_id, last_error, sent_at, created_by, created_at, updated_at`,
  communications: 'tenant_id, id, customer_id, type, direction, summary, occurred_at, promised_amount, promised_date, notification_id, created_by, created_at',
  audit_log: 'tenant_id, seq, lane, lane_seq, id, actor, action, entity_type, entity_id, before, after, reason, ip, user_agent, request_id, created_at, prev_hash, hash, customer_id',
}

/**
 * Purges or archives one chunk of a data type (every type but soft-deleted customers) and returns
 * how many rows it handled. Must run in a transaction that called `declareRetentionRun`.
 */
export async function processChunk(
  trx: Trx,
  ctx: RequestContext,
  runId: string,
  type: Exclude<RetentionDataType, 'soft_deleted_customers'>,
  action: RetentionAction,
  cutoff: string,
  limit: number,
): Promise<number> {
  const keys = await dueKeys(trx, ctx, type, cutoff, limit)
  if (!keys.length) return 0
  const t = ctx.tenantId
  const { table, key } = SELECT[type]
  const inKeys = key === 'seq' ? trx.raw('?::bigint[]', [keys]) : trx.raw('?::text[]', [keys])
  if (type === 'documents') {
    // A document stays where it is, amounts and all: the archive records that it is archived.
    await trx.raw(`insert into archive.documents (tenant_id, document_type, id, run_id) select ?, 'invoice', k, ? from unnest(?::text[]) k on conflict do nothing`, [t, runId, keys])
    return keys.length
  }
  if (type === 'webhook_deliveries') {
    await trx.raw(`delete from webhook_delivery_attempts where tenant_id = ? and delivery_id = any(?)`, [t, inKeys])
  }
  if (type === 'events') {
    await trx.raw(`delete from consumed_events where tenant_id = ? and event_id = any(?)`, [t, inKeys])
  }
  if (action === 'archive') {
    const cols = ARCHIVED_COLUMNS[type]!
    await trx.raw(`insert into archive.${table} (${cols}, run_id) select ${cols}, ? from ${table} where tenant_id = ? and ${key} = any(?) on conflict do nothing`, [
      runId,
      t,
      inKeys,
    ])
  }
  const { rowCount } = await trx.raw(`delete from ${table} where tenant_id = ? and ${key} = any(?)`, [t, inKeys])
  return rowCount ?? 0
}

/** Deletes from append-only tables are refused outside a transaction that declares its run (migration 20261221000010). */
export async function declareRetentionRun(trx: Trx, runId: string): Promise<void> {
  await trx.raw(`select set_config('app.retention_run', ?, true)`, [runId])
}

// ---- soft-deleted customers ---------------------------------------------------------------------

const DELETED_CUSTOMERS = `x.tenant_id = :t and x.status = 'deleted' and x.deleted_at < :cutoff
  and not exists (select 1 from retention_anonymizations r where r.tenant_id = x.tenant_id and r.customer_id = x.id)`

/** Soft-deleted customers past the cutoff and not yet anonymized by retention (one chunk, locked). */
export async function dueDeletedCustomers(trx: Trx, ctx: RequestContext, cutoff: string, limit: number, skip: readonly string[] = []): Promise<string[]> {
  const { rows } = await trx.raw(`select x.id from customers x where ${DELETED_CUSTOMERS} and x.id <> all(cast(:skip as text[])) order by x.id limit :limit for update skip locked`, {
    t: ctx.tenantId,
    cutoff,
    limit,
    skip: [...skip],
  })
  return rows.map((r: { id: string }) => r.id)
}

export async function recordAnonymized(trx: Trx, ctx: RequestContext, runId: string, customerId: string): Promise<void> {
  await trx('retention_anonymizations').insert({ tenant_id: ctx.tenantId, customer_id: customerId, run_id: runId })
}

// ---- archived reads -----------------------------------------------------------------------------

/** An archived event row (same columns as `events`), or undefined. */
export async function archivedEvent<T>(trx: Trx, ctx: RequestContext, id: string, columns: readonly string[]): Promise<T | undefined> {
  return (await trx('archive.events').where({ tenant_id: ctx.tenantId, id }).first(columns as string[])) as T | undefined
}

export async function archivedDocumentIds(trx: Trx, ctx: RequestContext, type: 'invoice', ids: readonly string[]): Promise<Set<string>> {
  if (!ids.length) return new Set()
  const rows: { id: string }[] = await trx('archive.documents').where({ tenant_id: ctx.tenantId, document_type: type }).whereIn('id', ids as string[]).select('id')
  return new Set(rows.map((r) => r.id))
}

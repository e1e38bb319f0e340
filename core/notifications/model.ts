import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'

/**
 * Notifications and their attempt log (`notifications`, `notification_attempts`: the only SQL on
 * them). A notification moves queued → sending → sent | failed → dead, or ends `suppressed`.
 * At most one provider call per claim: `claimForSend` moves it to `sending` (committed on its own
 * before the call), `recordOutcome` moves it on only if it is still the claim it made. A row found
 * `sending` past its lease is an unknown outcome (the process died around the call): it becomes
 * `failed` with `unknown_outcome` and is never sent again without a person's retry.
 */

export const NOTIFICATION_STATUSES = ['queued', 'sending', 'sent', 'failed', 'dead', 'suppressed'] as const
export type NotificationStatus = (typeof NOTIFICATION_STATUSES)[number]

export interface NotificationRow {
  id: string
  customer_id: string
  template: string
  channel_id: string | null
  recipient: string | null
  data: Record<string, unknown>
  status: NotificationStatus
  suppressed_reason: string | null
  source: string
  source_ref: string | null
  attempt_count: number
  cycle_start: number
  next_attempt_at: Date | null
  provider_id: string | null
  last_error: { code?: string; message?: string } | null
  sent_at: Date | null
  subject: string | null
  body: string | null
  statement_id: string | null
  created_by: string
  created_at: Date
  updated_at: Date
}

interface AttemptRow {
  attempt: number
  status: 'sent' | 'failed' | 'unknown_outcome'
  provider_id: string | null
  error: { code?: string; message?: string } | null
  retryable: boolean
  at: Date
}

function attemptView(a: AttemptRow) {
  return { attempt: a.attempt, at: a.at.toISOString(), status: a.status, provider_id: a.provider_id, error: a.error?.message ?? a.error?.code ?? null, retryable: a.retryable }
}

export function notificationView(r: NotificationRow, attempts?: AttemptRow[]) {
  return {
    id: r.id,
    object: 'notification' as const,
    customer: r.customer_id,
    template: r.template,
    channel: r.channel_id,
    to: r.recipient,
    status: r.status,
    suppressed_reason: r.suppressed_reason,
    source: r.source,
    subject: r.subject,
    body: r.body,
    attempt_count: r.attempt_count,
    next_attempt_at: r.next_attempt_at ? r.next_attempt_at.toISOString() : null,
    provider_id: r.provider_id,
    last_error: r.last_error,
    statement: r.statement_id,
    ...(attempts ? { attempts: attempts.map(attemptView) } : {}),
    sent_at: r.sent_at ? r.sent_at.toISOString() : null,
    created: r.created_at.toISOString(),
  }
}

export type NotificationView = ReturnType<typeof notificationView>

export interface NewNotification {
  customer_id: string
  template: string
  channel_id: string | null
  data: Record<string, unknown>
  source: 'api' | 'credit_policy' | 'statement_run' | 'dunning' | 'system'
  source_ref?: string | null
  statement_id?: string | null
}

export async function insertNotifications(trx: Trx, ctx: Pick<RequestContext, 'tenantId' | 'keyId' | 'role'>, rows: NewNotification[]): Promise<NotificationRow[]> {
  if (!rows.length) return []
  return trx('notifications')
    .insert(rows.map((r) => ({ tenant_id: ctx.tenantId, id: newId('ntf'), ...r, data: JSON.stringify(r.data), created_by: ctx.keyId ?? ctx.role })))
    .returning('*')
}

export async function notificationRow(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string, opts: { forUpdate?: boolean } = {}): Promise<NotificationRow> {
  const q = trx('notifications').where({ tenant_id: ctx.tenantId, id })
  if (opts.forUpdate) q.forUpdate()
  const row: NotificationRow | undefined = await q.first()
  if (!row) throw notFound('notification', id, 'id')
  return row
}

export async function getNotification(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string): Promise<NotificationView> {
  const row = await notificationRow(trx, ctx, id)
  const attempts: AttemptRow[] = await trx('notification_attempts').where({ tenant_id: ctx.tenantId, notification_id: id }).orderBy('attempt')
  return notificationView(row, attempts)
}

export async function listNotifications(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, q: ListQuery & { customer?: string; status?: NotificationStatus }) {
  const query = trx('notifications').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.where({ customer_id: q.customer })
  if (q.status) query.where({ status: q.status })
  const { rows, has_more } = await paginate<NotificationRow>(query, q)
  return page(rows.map((r) => notificationView(r)), has_more)
}

/**
 * Takes due notifications for sending (`id`, or up to `limit` of the tenant's oldest due ones),
 * row-locked (skip locked: another worker has them): queued, or failed with a retry due.
 */
export async function lockDueNotifications(trx: Trx, tenantId: string, id: string | null, limit: number): Promise<NotificationRow[]> {
  const q = trx('notifications').where({ tenant_id: tenantId })
  if (id) q.where({ id })
  else q.orderBy('id')
  return q
    .where((w) => w.where({ status: 'queued' }).orWhere((f) => f.where({ status: 'failed' }).whereNotNull('next_attempt_at')))
    .where((w) => w.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', trx.fn.now()))
    .forUpdate()
    .skipLocked()
    .limit(id ? 1 : limit)
}

/** The claim: `sending`, one more attempt, with what will be sent. Commit it before calling the provider. */
export async function markSending(trx: Trx, tenantId: string, id: string, fields: { channel_id: string; recipient: string; subject: string | null; body: string }): Promise<NotificationRow> {
  const [row]: NotificationRow[] = await trx('notifications')
    .where({ tenant_id: tenantId, id })
    .update({ ...fields, status: 'sending', attempt_count: trx.raw('attempt_count + 1'), next_attempt_at: null, updated_at: trx.fn.now() })
    .returning('*')
  return row
}

export async function markSuppressed(trx: Trx, tenantId: string, id: string, reason: string): Promise<void> {
  await trx('notifications').where({ tenant_id: tenantId, id }).update({ status: 'suppressed', suppressed_reason: reason, next_attempt_at: null, updated_at: trx.fn.now() })
}

/** Ends a notification that cannot be sent at all (no channel, no address, no template): `dead`. */
export async function markUndeliverable(trx: Trx, tenantId: string, id: string, error: { code: string; message: string }): Promise<void> {
  await trx('notifications').where({ tenant_id: tenantId, id }).update({ status: 'dead', last_error: JSON.stringify(error), next_attempt_at: null, updated_at: trx.fn.now() })
}

export interface Outcome {
  status: 'sent' | 'failed' | 'dead'
  attemptStatus: 'sent' | 'failed' | 'unknown_outcome'
  provider_id: string | null
  error: { code: string; message: string } | null
  retryable: boolean
  next_attempt_at: Date | null
}

/**
 * Records the outcomes of claimed attempts (a batch: one statement for the rows, one for the log),
 * each only if its row is still that claim (`sending`, that attempt); returns the rows after, by
 * id — a row missing is no longer that claim (a sweep already declared its outcome unknown).
 */
export async function recordOutcomes(trx: Trx, tenantId: string, items: { row: Pick<NotificationRow, 'id' | 'customer_id'>; attempt: number; outcome: Outcome }[]): Promise<Map<string, NotificationRow>> {
  if (!items.length) return new Map()
  const values = items.map(({ row, attempt, outcome: o }) => ({
    id: row.id,
    attempt,
    status: o.status,
    provider_id: o.provider_id,
    last_error: o.error,
    next_attempt_at: o.next_attempt_at ? o.next_attempt_at.toISOString() : null,
  }))
  const { rows }: { rows: NotificationRow[] } = await trx.raw(
    `update notifications n set status = v.status, provider_id = v.provider_id, last_error = v.last_error, next_attempt_at = v.next_attempt_at,
            sent_at = case when v.status = 'sent' then now() else n.sent_at end, updated_at = now()
       from jsonb_to_recordset(?::jsonb) as v(id text, attempt int, status text, provider_id text, last_error jsonb, next_attempt_at timestamptz)
      where n.tenant_id = ? and n.id = v.id and n.status = 'sending' and n.attempt_count = v.attempt
      returning n.*`,
    [JSON.stringify(values), tenantId],
  )
  const after = new Map(rows.map((r) => [r.id, r]))
  const logged = items.filter((i) => after.has(i.row.id))
  if (logged.length) {
    await trx('notification_attempts').insert(
      logged.map(({ row, attempt, outcome: o }) => ({
        tenant_id: tenantId,
        id: newId('nat'),
        notification_id: row.id,
        customer_id: row.customer_id,
        attempt,
        status: o.attemptStatus,
        provider_id: o.provider_id,
        error: o.error ? JSON.stringify(o.error) : null,
        retryable: o.retryable,
      })),
    )
  }
  return after
}

export const UNKNOWN_OUTCOME = { code: 'unknown_outcome', message: 'The process stopped between claiming the send and recording its outcome: the message may or may not have gone out. Check with the recipient, then retry by hand if needed.' }

/** Declares every send claimed longer ago than `leaseSeconds` an unknown outcome (`failed`, no automatic retry). */
export async function failStaleSends(trx: Trx, tenantId: string, leaseSeconds: number): Promise<string[]> {
  const { rows }: { rows: { id: string; customer_id: string; attempt_count: number }[] } = await trx.raw(
    `update notifications set status = 'failed', last_error = ?::jsonb, next_attempt_at = null, updated_at = now()
      where tenant_id = ? and status = 'sending' and updated_at < now() - make_interval(secs => ?)
      returning id, customer_id, attempt_count`,
    [JSON.stringify(UNKNOWN_OUTCOME), tenantId, leaseSeconds],
  )
  if (rows.length) {
    await trx('notification_attempts').insert(
      rows.map((r) => ({ tenant_id: tenantId, id: newId('nat'), notification_id: r.id, customer_id: r.customer_id, attempt: r.attempt_count, status: 'unknown_outcome', error: JSON.stringify(UNKNOWN_OUTCOME), retryable: false })),
    )
  }
  return rows.map((r) => r.id)
}

/** Notifications due for a send whose job may have been lost (or that were inserted without one, e.g. by the credit policy). */
export async function dueNotificationIds(trx: Trx, tenantId: string, limit: number): Promise<string[]> {
  const rows: { id: string }[] = await trx('notifications')
    .where({ tenant_id: tenantId })
    .where((w) => w.where({ status: 'queued' }).orWhere((f) => f.where({ status: 'failed' }).whereNotNull('next_attempt_at')))
    .where((w) => w.whereNull('next_attempt_at').orWhere('next_attempt_at', '<=', trx.fn.now()))
    .orderBy('id')
    .limit(limit)
    .select('id')
  return rows.map((r) => r.id)
}

/** A person's retry: back to `queued` with a fresh retry budget. */
export async function requeue(trx: Trx, tenantId: string, id: string): Promise<NotificationRow> {
  const [row]: NotificationRow[] = await trx('notifications')
    .where({ tenant_id: tenantId, id })
    .update({ status: 'queued', next_attempt_at: null, cycle_start: trx.raw('attempt_count'), updated_at: trx.fn.now() })
    .returning('*')
  return row
}

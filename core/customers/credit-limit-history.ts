import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'

/**
 * A customer's credit limits and their history (`credit_limit_changes`, append-only): every change
 * of the limit or the temporary limit, whatever made it. A PATCH records its change from
 * updateCustomer; a credit-limit request (core/workflows/credit-limit.ts) sets the limits here.
 */

export interface CreditLimits {
  credit_limit: number | null
  temporary_credit_limit: number | null
  temporary_credit_limit_expires_on: string | null
}

export type CreditLimitKind = 'credit_limit' | 'temporary_credit_limit'

export interface CreditLimitChangeMeta {
  source: 'request' | 'patch' | 'policy' | 'import' | 'create'
  request_id?: string | null
  /** Default: the acting key. */
  requested_by?: string | null
  approved_by?: string | null
  reason?: string | null
}

interface ChangeRow {
  id: string
  customer_id: string
  kind: CreditLimitKind
  from_limit: number | null
  to_limit: number | null
  expires_on: string | null
  source: CreditLimitChangeMeta['source']
  request_id: string | null
  requested_by: string | null
  approved_by: string | null
  reason: string | null
  created_at: Date
}

export function creditLimitChangeView(r: ChangeRow) {
  return {
    id: r.id,
    object: 'credit_limit_change' as const,
    customer: r.customer_id,
    kind: r.kind,
    from: r.from_limit,
    to: r.to_limit,
    expires_on: r.expires_on,
    requested_by: r.requested_by,
    approved_by: r.approved_by,
    reason: r.reason,
    source: r.source,
    request: r.request_id,
    at: r.created_at.toISOString(),
  }
}

/** One history row per limit that differs between `before` and `after` (none: writes nothing). */
export async function recordCreditLimitChanges(trx: Trx, ctx: RequestContext, customerId: string, before: CreditLimits, after: CreditLimits, meta: CreditLimitChangeMeta) {
  return recordCreditLimitChangesOf(trx, ctx, [{ customerId, before, after }], meta)
}

/** The history rows of several customers' changes in one statement. */
export async function recordCreditLimitChangesOf(trx: Trx, ctx: RequestContext, changes: { customerId: string; before: CreditLimits; after: CreditLimits }[], meta: CreditLimitChangeMeta) {
  const rows: Omit<ChangeRow, 'created_at'>[] = []
  for (const { customerId, before, after } of changes) {
    const common = {
      customer_id: customerId,
      source: meta.source,
      request_id: meta.request_id ?? null,
      requested_by: meta.requested_by === undefined ? (ctx.keyId ?? ctx.role) : meta.requested_by,
      approved_by: meta.approved_by ?? null,
      reason: meta.reason ?? null,
    }
    if ((before.credit_limit ?? null) !== (after.credit_limit ?? null)) {
      rows.push({ id: newId('clc'), kind: 'credit_limit', from_limit: before.credit_limit ?? null, to_limit: after.credit_limit ?? null, expires_on: null, ...common })
    }
    if (
      (before.temporary_credit_limit ?? null) !== (after.temporary_credit_limit ?? null) ||
      (before.temporary_credit_limit_expires_on ?? null) !== (after.temporary_credit_limit_expires_on ?? null)
    ) {
      rows.push({
        id: newId('clc'),
        kind: 'temporary_credit_limit',
        from_limit: before.temporary_credit_limit ?? null,
        to_limit: after.temporary_credit_limit ?? null,
        expires_on: after.temporary_credit_limit_expires_on ?? null,
        ...common,
      })
    }
  }
  if (!rows.length) return []
  const inserted: ChangeRow[] = await trx('credit_limit_changes')
    .insert(rows.map((r) => ({ tenant_id: ctx.tenantId, ...r })))
    .returning('*')
  return inserted.map(creditLimitChangeView)
}

/** The customer's limits under its row lock (404 for one the key cannot see; 409 when deleted). */
export async function lockCreditLimits(trx: Trx, ctx: RequestContext, customerId: string): Promise<CreditLimits & { id: string; currency: string }> {
  const row = await trx('customers')
    .where({ tenant_id: ctx.tenantId, id: customerId })
    .forUpdate()
    .first('id', 'currency', 'deleted_at', 'credit_limit', 'temporary_credit_limit', 'temporary_credit_limit_expires_on')
  if (!row) throw notFound('customer', customerId, 'id')
  if (row.deleted_at) throw new AppError('customer_deleted')
  return row
}

/**
 * Sets the customer's limits (held by lockCreditLimits) and records the change: history, audit
 * (`customer.credit_limit_changed`) and an event of the same name per changed limit.
 */
export async function setCreditLimits(trx: Trx, ctx: RequestContext, customerId: string, before: CreditLimits, change: Partial<CreditLimits>, meta: CreditLimitChangeMeta) {
  const after: CreditLimits = { ...before, ...change }
  await trx('customers')
    .where({ tenant_id: ctx.tenantId, id: customerId })
    .update({ ...change, version: trx.raw('version + 1'), updated_at: trx.fn.now() })
  const changes = await recordCreditLimitChanges(trx, ctx, customerId, before, after, meta)
  const pick = (l: CreditLimits) => ({ customer: customerId, credit_limit: l.credit_limit, temporary_credit_limit: l.temporary_credit_limit, temporary_credit_limit_expires_on: l.temporary_credit_limit_expires_on })
  await recordAudit(trx, ctx, { action: 'customer.credit_limit_changed', entity_type: 'customer', entity_id: customerId, before: pick(before), after: pick(after), reason: meta.reason ?? null })
  for (const c of changes) await emitEvent(trx, ctx, 'customer.credit_limit_changed', c)
  return after
}

/** Every change of the customer's limits, newest first (404 for a customer the key cannot see). */
export async function creditLimitHistory(trx: Trx, ctx: RequestContext, customerId: string, q: ListQuery) {
  const customer = await trx('customers').where({ tenant_id: ctx.tenantId, id: customerId }).first('id')
  if (!customer) throw notFound('customer', customerId, 'id')
  const { rows, has_more } = await paginate<ChangeRow>(trx('credit_limit_changes').where({ tenant_id: ctx.tenantId, customer_id: customerId }), q)
  return page(rows.map(creditLimitChangeView), has_more)
}

import { isDeepStrictEqual } from 'node:util'
import type { Knex } from 'knex'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { can, firstUneditableField } from '../kernel/permissions'
import { ledgerContext } from '../ledger/engine'
import { listCustomerTransactions } from '../ledger/reads'
import type { ListQuery } from '../kernel/pagination'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCurrency } from '../kernel/money'
import { recordAudit } from '../audit/service'
import { emitEvent, emitEvents } from '../outbox/outbox'
import { recordCreditLimitChanges, recordCreditLimitChangesOf } from './credit-limit-history'
import { paginate, page } from '../kernel/pagination'
import type {
  Address,
  CreateCustomerInput,
  CustomerStatus,
  ListCustomersQuery,
  Metadata,
  Preferences,
  UpdateCustomerInput,
} from './schemas'

/**
 * Checks that `assigned_to` names an API key id or a staff `user` label of an active key of the
 * tenant (404 with param `assigned_to` otherwise). Keys belong to the control plane, so the caller
 * (the route) supplies it.
 */
export type AssigneeCheck = (trx: Trx, ctx: RequestContext, assignee: string) => Promise<void>

export interface CustomerRow {
  tenant_id: string
  id: string
  name: string
  email: string | null
  phone: string | null
  tax_id: string | null
  billing_address: Address | null
  shipping_address: Address | null
  currency: string
  credit_limit: number | null
  temporary_credit_limit: number | null
  temporary_credit_limit_expires_on: string | null
  payment_terms_days: number
  external_id: string | null
  assigned_to: string | null
  metadata: Metadata
  tier: string | null
  grace_period_days: number | null
  suspension_override_until: string | null
  credit_hold: boolean
  preferences: Preferences
  status: CustomerStatus
  status_before_delete: CustomerStatus | null
  merged_into: string | null
  anonymized_at: Date | null
  version: number
  deleted_at: Date | null
  deleted_by: string | null
  delete_reason: string | null
  created_at: Date
  updated_at: Date
}

/** A customer row joined with its cached balance (null columns when no balance row exists). */
interface CustomerWithBalance extends CustomerRow {
  pending_balance: number | null
  advance_balance: number | null
  current_balance: number | null
  balance_currency: string | null
}

const MAX_DUPLICATE_HINTS = 10
const JSON_COLUMNS = ['billing_address', 'shipping_address', 'metadata', 'preferences'] as const

// ---- views ------------------------------------------------------------------------------------

/** The customer's own fields, unmasked and without balance: what audit rows snapshot. */
function customerFields(row: CustomerRow) {
  return {
    id: row.id,
    object: 'customer' as const,
    name: row.name,
    email: row.email,
    phone: row.phone,
    tax_id: row.tax_id,
    billing_address: row.billing_address,
    shipping_address: row.shipping_address,
    currency: row.currency,
    credit_limit: row.credit_limit,
    temporary_credit_limit: row.temporary_credit_limit,
    temporary_credit_limit_expires_on: row.temporary_credit_limit_expires_on,
    payment_terms_days: row.payment_terms_days,
    external_id: row.external_id,
    assigned_to: row.assigned_to,
    metadata: row.metadata,
    tier: row.tier,
    grace_period_days: row.grace_period_days,
    suspension_override_until: row.suspension_override_until,
    credit_hold: row.credit_hold,
    preferences: row.preferences,
    status: row.status,
    merged_into: row.merged_into,
    anonymized_at: row.anonymized_at ? row.anonymized_at.toISOString() : null,
    version: row.version,
    deleted: row.deleted_at !== null,
    deleted_at: row.deleted_at ? row.deleted_at.toISOString() : null,
    delete_reason: row.delete_reason,
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  }
}

/**
 * The whole customer object: what events carry and what responses start from (the fields a reader
 * may not view are removed from every response in core/http/fields.ts).
 */
function fullView(row: CustomerWithBalance) {
  return {
    ...customerFields(row),
    balance: {
      pending_balance: row.pending_balance ?? 0,
      advance_balance: row.advance_balance ?? 0,
      current_balance: row.current_balance ?? 0,
      currency: row.balance_currency ?? row.currency,
    },
  }
}

export type CustomerView = ReturnType<typeof fullView>

// ---- reads ------------------------------------------------------------------------------------

function selectCustomers(trx: Trx, ctx: RequestContext): Knex.QueryBuilder {
  return trx('customers as c')
    .leftJoin('customer_balances as b', function () {
      this.on('b.tenant_id', 'c.tenant_id').andOn('b.customer_id', 'c.id')
    })
    .where('c.tenant_id', ctx.tenantId)
    .select('c.*', 'b.pending_balance', 'b.advance_balance', 'b.current_balance', 'b.currency as balance_currency')
}

/**
 * One customer the actor may read. Another tenant's id, a missing id and a row outside the actor's
 * scope (row-level security hides the customers of other owners from a limited key) all answer the
 * same 404. `forUpdate` locks the customer row for the rest of the transaction.
 */
async function findReadable(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<CustomerWithBalance> {
  const query = selectCustomers(trx, ctx).where('c.id', id)
  if (opts.forUpdate) query.forUpdate('c')
  const row: CustomerWithBalance | undefined = await query.first()
  if (!row) throw notFound('customer', id, 'id')
  return row
}

/**
 * Field-level edit rights: a guarded field in the input the key may not write is 403
 * `field_not_permitted` naming it. A key limited to its own customers can assign a customer only
 * to one of its owners (it would lose sight of it otherwise).
 */
function assertEditable(ctx: RequestContext, input: object): void {
  const field = firstUneditableField(ctx.access, 'customer', Object.keys(input))
  if (field) throw new AppError('field_not_permitted', `The '${ctx.role}' role may not write '${field}'.`, { param: field })
  const assignee = (input as { assigned_to?: string | null }).assigned_to
  if (ctx.access.owners && assignee !== undefined && (assignee === null || !ctx.access.owners.includes(assignee))) {
    throw new AppError('field_not_permitted', 'A key limited to its own customers assigns them only to itself (its key id or user).', { param: 'assigned_to' })
  }
}

/**
 * A list's `?customer=` filter must name a customer the caller sees: another tenant's, a missing one
 * and, for a key limited to its own customers, one not assigned to it all answer 404 (param
 * `customer`), as reads of that customer do. Returns the query unchanged.
 */
export async function customerFilter<Q extends { customer?: string }>(trx: Trx, ctx: RequestContext, q: Q): Promise<Q> {
  if (q.customer === undefined) return q
  const row = await trx('customers').where({ tenant_id: ctx.tenantId, id: q.customer }).first('id')
  if (!row) throw notFound('customer', q.customer, 'customer')
  return q
}

export async function getCustomer(trx: Trx, ctx: RequestContext, id: string): Promise<CustomerView> {
  return fullView(await findReadable(trx, ctx, id))
}

/**
 * The customer's sub-ledger, newest first; 404 for a customer the actor cannot see. With
 * `include_merged`, the rows of every customer merged into it (and into those) too.
 */
export async function customerTransactions(trx: Trx, ctx: RequestContext, id: string, q: ListQuery & { include_merged?: boolean }) {
  await findReadable(trx, ctx, id)
  return listCustomerTransactions(trx, ctx, q.include_merged ? await mergedFamily(trx, ctx, id) : [id], q)
}

/** The customer and every customer merged into it, directly or through another merged one. */
export async function mergedFamily(trx: Trx, ctx: RequestContext, id: string): Promise<string[]> {
  const { rows } = await trx.raw(
    `with recursive family(id) as (
       select ?::text
       union
       select c.id from customers c join family f on c.merged_into = f.id where c.tenant_id = ?
     ) select id from family`,
    [id, ctx.tenantId],
  )
  return (rows as { id: string }[]).map((r) => r.id)
}

/** Ends a customer merged into another (the merge workflow moved its open items and balances). */
export async function markCustomerMerged(trx: Trx, ctx: RequestContext, id: string, into: string): Promise<void> {
  await trx('customers')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ status: 'merged', merged_into: into, merged_at: trx.fn.now(), version: trx.raw('version + 1'), updated_at: trx.fn.now() })
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, '\\$&')
}

export async function listCustomers(trx: Trx, ctx: RequestContext, q: ListCustomersQuery) {
  const query = selectCustomers(trx, ctx)
  if (q.status) query.where('c.status', q.status)
  if (!q.include_deleted && q.status !== 'deleted') query.whereNull('c.deleted_at')
  if (q.q) {
    const pattern = `%${escapeLike(q.q)}%`
    // Searching emails the reader cannot see would let it probe them letter by letter.
    const searchEmail = can(ctx.access, 'customers.pii.view')
    query.where((w) => {
      w.whereILike('c.name', pattern).orWhereILike('c.external_id', pattern)
      if (searchEmail) w.orWhereILike('c.email', pattern)
    })
  }
  const { rows, has_more } = await paginate<CustomerWithBalance>(query, q, 'c.id')
  return page(rows.map(fullView), has_more)
}

type DuplicateHint = { id: string; name: string; matched_on: ('email' | 'phone' | 'tax_id')[] }

/**
 * For each input, the existing non-deleted customers that share its email (any case), phone or tax
 * id, newest first, at most MAX_DUPLICATE_HINTS: one statement for the whole batch (per input, a
 * lateral union of three lookups, one per partial index; an OR of the three would scan).
 */
async function findPossibleDuplicates(trx: Trx, ctx: RequestContext, inputs: { email?: string | null; phone?: string | null; tax_id?: string | null }[]): Promise<DuplicateHint[][]> {
  const keys = inputs.map((i) => ({ email: i.email?.toLowerCase() ?? null, phone: i.phone ?? null, tax_id: i.tax_id ?? null }))
  const hints: DuplicateHint[][] = inputs.map(() => [])
  const asked = keys.map((k, i) => ({ ...k, i })).filter((k) => k.email !== null || k.phone !== null || k.tax_id !== null)
  if (!asked.length) return hints
  const { rows }: { rows: (Pick<CustomerRow, 'id' | 'name' | 'email' | 'phone' | 'tax_id'> & { i: number })[] } = await trx.raw(
    `select k.i, c.id, c.name, c.email, c.phone, c.tax_id
       from jsonb_to_recordset(?::jsonb) as k(i int, email text, phone text, tax_id text)
       cross join lateral (
         select * from (
           select id, name, email, phone, tax_id from customers where tenant_id = ? and email_key is not null and email_key = k.email and deleted_at is null
           union
           select id, name, email, phone, tax_id from customers where tenant_id = ? and phone is not null and phone = k.phone and deleted_at is null
           union
           select id, name, email, phone, tax_id from customers where tenant_id = ? and tax_id is not null and tax_id = k.tax_id and deleted_at is null
         ) m order by m.id desc limit ${MAX_DUPLICATE_HINTS}) c
      order by k.i, c.id desc`,
    [JSON.stringify(asked), ctx.tenantId, ctx.tenantId, ctx.tenantId],
  )
  for (const r of rows) {
    const { email, phone, tax_id } = keys[r.i]
    hints[r.i].push({
      id: r.id,
      name: r.name,
      matched_on: [
        ...(email !== null && r.email?.toLowerCase() === email ? ['email' as const] : []),
        ...(phone !== null && r.phone === phone ? ['phone' as const] : []),
        ...(tax_id !== null && r.tax_id === tax_id ? ['tax_id' as const] : []),
      ],
    })
  }
  return hints
}

// ---- writes -----------------------------------------------------------------------------------

/** external_id is unique among non-deleted customers of a tenant (partial unique index). */
async function guardExternalId<T>(write: Promise<T>): Promise<T> {
  try {
    return await write
  } catch (err) {
    const e = err as { code?: string; constraint?: string }
    if (e.code === '23505' && e.constraint === 'customers_external_id_key') {
      throw new AppError('duplicate_external_id', undefined, { param: 'external_id' })
    }
    throw err
  }
}

/** jsonb columns are written as JSON text (pg would turn arrays into Postgres arrays). */
/** A temporary credit limit needs its expiry date and the other way round. */
function assertTemporaryLimitPair(c: Pick<CustomerRow, 'temporary_credit_limit' | 'temporary_credit_limit_expires_on'>): void {
  if ((c.temporary_credit_limit ?? null) === null !== ((c.temporary_credit_limit_expires_on ?? null) === null)) {
    throw new AppError('validation_failed', 'Set temporary_credit_limit and temporary_credit_limit_expires_on together (or both to null).', {
      param: 'temporary_credit_limit_expires_on',
    })
  }
}

function toColumns(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...fields }
  for (const c of JSON_COLUMNS) if (out[c] !== undefined && out[c] !== null) out[c] = JSON.stringify(out[c])
  return out
}

async function recordChange(trx: Trx, ctx: RequestContext, action: string, before: CustomerRow | null, after: CustomerRow, reason?: string | null) {
  await recordAudit(trx, ctx, {
    action,
    entity_type: 'customer',
    entity_id: after.id,
    before: before ? customerFields(before) : undefined,
    after: customerFields(after),
    reason,
  })
}

/**
 * Creates the customer and its zero balance row. A key limited to its own customers assigns the new
 * customer to its user (else its key id) unless it names one of them, so it sees what it created.
 */
export async function createCustomer(trx: Trx, ctx: RequestContext, input: CreateCustomerInput, assertAssignee?: AssigneeCheck) {
  const [created] = await createCustomers(trx, ctx, [input], assertAssignee)
  if (created instanceof AppError) throw created
  return created
}

/**
 * Creates many customers of one tenant set-based (a CSV import's chunk): the checks of each input
 * first (a refused input becomes its AppError in the result and writes nothing), then one statement
 * per table for the rest. An external_id taken by a live customer, also by a concurrent request, or
 * given twice in the batch refuses the later input (`duplicate_external_id`).
 */
export async function createCustomers(trx: Trx, ctx: RequestContext, inputs: CreateCustomerInput[], assertAssignee?: AssigneeCheck) {
  const results: (ReturnType<typeof fullView> & { possible_duplicates: DuplicateHint[] } | AppError)[] = new Array(inputs.length)
  const baseCurrency = inputs.some((i) => i.currency === undefined) ? (await ledgerContext(trx, ctx)).base_currency : null
  const assignees = new Map<string, AppError | null>()
  const externalIds = new Set<string>()
  const planned: { i: number; row: Record<string, unknown> }[] = []
  for (const [i, input] of inputs.entries()) {
    try {
      const currency = input.currency === undefined ? baseCurrency! : assertCurrency(input.currency)
      assertTemporaryLimitPair({ temporary_credit_limit: input.temporary_credit_limit ?? null, temporary_credit_limit_expires_on: input.temporary_credit_limit_expires_on ?? null })
      assertEditable(ctx, input)
      if (input.assigned_to && assertAssignee) {
        if (!assignees.has(input.assigned_to)) {
          assignees.set(input.assigned_to, await assertAssignee(trx, ctx, input.assigned_to).then(() => null, (err) => (err instanceof AppError ? err : Promise.reject(err))))
        }
        const refused = assignees.get(input.assigned_to)
        if (refused) throw refused
      }
      if (input.external_id !== undefined && input.external_id !== null) {
        if (externalIds.has(input.external_id)) throw new AppError('duplicate_external_id', undefined, { param: 'external_id' })
        externalIds.add(input.external_id)
      }
      planned.push({ i, row: customerColumns(ctx, input, currency) })
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      results[i] = err
    }
  }
  if (!planned.length) return results
  // Looked up before the insert, so a new customer never lists itself.
  const duplicates = await findPossibleDuplicates(trx, ctx, planned.map((p) => inputs[p.i]))
  const rows: CustomerRow[] = await trx('customers')
    .insert(planned.map((p) => toColumns(p.row)))
    .onConflict(trx.raw('(tenant_id, external_id) where external_id is not null and deleted_at is null'))
    .ignore()
    .returning('*')
  const byId = new Map(rows.map((r) => [r.id, r]))
  const inserted = planned.flatMap((p, k) => {
    const row = byId.get(p.row.id as string)
    if (!row) results[p.i] = new AppError('duplicate_external_id', undefined, { param: 'external_id' })
    return row ? [{ i: p.i, row, possible_duplicates: duplicates[k] }] : []
  })
  if (!inserted.length) return results
  const balances: { customer_id: string; pending_balance: number; advance_balance: number; current_balance: number; currency: string }[] = await trx('customer_balances')
    .insert(inserted.map(({ row }) => ({ tenant_id: ctx.tenantId, customer_id: row.id, currency: row.currency })))
    .returning(['customer_id', 'pending_balance', 'advance_balance', 'current_balance', 'currency'])
  const balanceOf = new Map(balances.map((b) => [b.customer_id, b]))
  const views = inserted.map(({ i, row, possible_duplicates }) => {
    const b = balanceOf.get(row.id)!
    const view = fullView({ ...row, pending_balance: b.pending_balance, advance_balance: b.advance_balance, current_balance: b.current_balance, balance_currency: b.currency })
    results[i] = { ...view, possible_duplicates }
    return { row, view }
  })
  for (const { row } of views) await recordChange(trx, ctx, 'customer.created', null, row)
  // The limits a customer starts with are the first entries of its limit history.
  const none = { credit_limit: null, temporary_credit_limit: null, temporary_credit_limit_expires_on: null }
  await recordCreditLimitChangesOf(trx, ctx, views.map(({ row }) => ({ customerId: row.id, before: none, after: row })), { source: 'create' })
  await emitEvents(trx, views.map(({ view }) => ({ ctx, type: 'customer.created', object: view })))
  return results
}

/** The columns of a new customer row. */
function customerColumns(ctx: RequestContext, input: CreateCustomerInput, currency: string): Record<string, unknown> {
  return {
    tenant_id: ctx.tenantId,
    id: newId('cus'),
    name: input.name,
    email: input.email ?? null,
    phone: input.phone ?? null,
    tax_id: input.tax_id ?? null,
    billing_address: input.billing_address ?? null,
    shipping_address: input.shipping_address ?? null,
    currency,
    credit_limit: input.credit_limit ?? null,
    temporary_credit_limit: input.temporary_credit_limit ?? null,
    temporary_credit_limit_expires_on: input.temporary_credit_limit_expires_on ?? null,
    payment_terms_days: input.payment_terms_days ?? 30,
    external_id: input.external_id ?? null,
    assigned_to: input.assigned_to !== undefined ? input.assigned_to : ctx.access.owners ? (ctx.user ?? ctx.keyId) : null,
    metadata: input.metadata ?? {},
    tier: input.tier ?? null,
    grace_period_days: input.grace_period_days ?? null,
    suspension_override_until: input.suspension_override_until ?? null,
    credit_hold: input.credit_hold ?? false,
    preferences: input.preferences ?? {},
  }
}

/**
 * If-Match precondition: `"3"`, `W/"3"` and `3` name version 3; `*` or no header matches anything;
 * any other tag was never issued by us and so cannot match.
 */
export function assertIfMatch(ifMatch: string | undefined, version: number): void {
  if (ifMatch === undefined || ifMatch.trim() === '*') return
  const m = /^\s*(?:W\/)?"?(\d{1,10})"?\s*$/.exec(ifMatch)
  if (!m || Number(m[1]) !== version) {
    throw new AppError('version_conflict', `If-Match does not match the current version (${version}).`, { param: 'If-Match' })
  }
}

/**
 * Changes the given fields under a row lock. Currency is not updatable (balances and documents are in
 * it). A PATCH that changes nothing writes nothing and keeps the version.
 */
export async function updateCustomer(trx: Trx, ctx: RequestContext, id: string, input: UpdateCustomerInput, ifMatch?: string, assertAssignee?: AssigneeCheck) {
  assertEditable(ctx, input)
  const before = await findReadable(trx, ctx, id, { forUpdate: true })
  if (before.deleted_at) throw new AppError('customer_deleted')
  if (before.anonymized_at) throw new AppError('customer_inactive', 'The customer is anonymized: it cannot be changed.')
  assertIfMatch(ifMatch, before.version)

  const changes: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(input)) {
    if (!isDeepStrictEqual(before[field as keyof CustomerRow], value)) changes[field] = value
  }
  if (Object.keys(changes).length === 0) return fullView(before)
  // Only a new assignee is checked: resending the current one (even a since-revoked key) is no change.
  if (typeof changes.assigned_to === 'string' && assertAssignee) await assertAssignee(trx, ctx, changes.assigned_to)
  assertTemporaryLimitPair({ ...before, ...changes } as CustomerRow)

  const [updated]: CustomerRow[] = await guardExternalId(
    trx('customers')
      .where({ tenant_id: ctx.tenantId, id })
      .update({ ...toColumns(changes), version: trx.raw('version + 1'), updated_at: trx.fn.now() })
      .returning('*'),
  )
  const after: CustomerWithBalance = { ...before, ...updated }
  await recordChange(trx, ctx, 'customer.updated', before, after)
  await recordCreditLimitChanges(trx, ctx, id, before, after, { source: 'patch' })
  await emitEvent(trx, ctx, 'customer.updated', fullView(after))
  if (after.status !== before.status) {
    if (after.status === 'suspended') await emitEvent(trx, ctx, 'customer.suspended', fullView(after))
    else if (before.status === 'suspended' && after.status === 'active') await emitEvent(trx, ctx, 'customer.reactivated', fullView(after))
  }
  return fullView(after)
}

/**
 * Refuses to delete a customer that still owes or is owed money. The balance row is locked, so no
 * posting (which locks it first) can land between this check and the delete; postings must re-check
 * the customer's status after taking that lock.
 * The ledger extends this with open documents (invoices with outstanding, unapplied credits, drafts).
 */
export async function assertNoOpenDocuments(trx: Trx, ctx: RequestContext, customerId: string): Promise<void> {
  const balance = await trx('customer_balances')
    .where({ tenant_id: ctx.tenantId, customer_id: customerId })
    .forUpdate()
    .first('pending_balance', 'advance_balance')
  if (balance && (balance.pending_balance !== 0 || balance.advance_balance !== 0)) {
    throw new AppError('customer_has_balance', undefined, {
      details: { pending_balance: balance.pending_balance, advance_balance: balance.advance_balance },
    })
  }
}

/** Soft delete: the row stays (documents reference it), hidden from lists, restorable. */
export async function deleteCustomer(trx: Trx, ctx: RequestContext, id: string, reason: string) {
  // Same lock order as the posting engine: the balance row first, then the customer.
  await trx('customer_balances').where({ tenant_id: ctx.tenantId, customer_id: id }).forUpdate().select('customer_id')
  const before = await findReadable(trx, ctx, id, { forUpdate: true })
  if (before.deleted_at) throw new AppError('customer_deleted')
  await assertNoOpenDocuments(trx, ctx, id)

  const [updated]: CustomerRow[] = await trx('customers')
    .where({ tenant_id: ctx.tenantId, id })
    .update({
      status: 'deleted',
      status_before_delete: before.status,
      deleted_at: trx.fn.now(),
      deleted_by: ctx.keyId ?? ctx.role,
      delete_reason: reason,
      version: trx.raw('version + 1'),
      updated_at: trx.fn.now(),
    })
    .returning('*')
  const after: CustomerWithBalance = { ...before, ...updated }
  await recordChange(trx, ctx, 'customer.deleted', before, after, reason)
  await emitEvent(trx, ctx, 'customer.deleted', fullView(after))
  return fullView(after)
}

/** Undoes a soft delete, back to the status the customer had; its external_id must still be free. */
export async function restoreCustomer(trx: Trx, ctx: RequestContext, id: string, reason: string | null) {
  const before = await findReadable(trx, ctx, id, { forUpdate: true })
  if (!before.deleted_at) throw new AppError('customer_not_deleted')

  const [updated]: CustomerRow[] = await guardExternalId(
    trx('customers')
      .where({ tenant_id: ctx.tenantId, id })
      .update({
        status: before.status_before_delete ?? 'active',
        status_before_delete: null,
        deleted_at: null,
        deleted_by: null,
        delete_reason: null,
        version: trx.raw('version + 1'),
        updated_at: trx.fn.now(),
      })
      .returning('*'),
  )
  const after: CustomerWithBalance = { ...before, ...updated }
  await recordChange(trx, ctx, 'customer.restored', before, after, reason)
  // The public event list has no customer.restored; a restore is an update to subscribers.
  await emitEvent(trx, ctx, 'customer.updated', fullView(after))
  return fullView(after)
}

/** What reaching a customer needs (notifications, statements): contact fields, preferences, address. 404 when the actor cannot see it. */
export async function customerContact(trx: Trx, ctx: RequestContext, id: string) {
  const row = (await findReadable(trx, ctx, id)) as CustomerWithBalance & { preferences?: { email?: boolean; sms?: boolean; language?: string } | null }
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    phone: row.phone,
    tax_id: row.tax_id,
    billing_address: row.billing_address,
    currency: row.currency,
    status: row.status,
    deleted: row.deleted_at !== null,
    preferences: row.preferences ?? {},
    current_balance: row.current_balance ?? 0,
  }
}

export type CustomerContact = Awaited<ReturnType<typeof customerContact>>

/** Ids of the customers a statement run covers by default: every customer not deleted or merged, oldest first (bounded). */
export async function statementCustomerIds(trx: Trx, ctx: RequestContext, limit: number): Promise<string[]> {
  const rows: { id: string }[] = await trx('customers').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at').whereNot({ status: 'merged' }).orderBy('id').limit(limit).select('id')
  return rows.map((r) => r.id)
}

// ---- anonymization ------------------------------------------------------------------------------

/** What an anonymized customer is called (not personal: the same for every one). */
export const ANONYMIZED_NAME = 'Anonymized customer'

/**
 * The customer under a row lock, for anonymization (the caller locked the balance row first, the
 * posting engine's order). 404 like any read outside the caller's scope.
 */
export async function lockCustomerForErasure(trx: Trx, ctx: RequestContext, id: string): Promise<CustomerRow> {
  await trx('customer_balances').where({ tenant_id: ctx.tenantId, customer_id: id }).forUpdate().select('customer_id')
  return findReadable(trx, ctx, id, { forUpdate: true })
}

/**
 * Blanks every personal field of the customer row for good: a fixed name, no e-mail, phone, tax id,
 * addresses or external id, empty metadata and preferences; status `inactive` (no new documents),
 * `anonymized_at` set. Ids, currency, limits, terms and every amount stay.
 */
export async function blankCustomer(trx: Trx, ctx: RequestContext, id: string): Promise<CustomerView> {
  const [updated]: CustomerRow[] = await trx('customers')
    .where({ tenant_id: ctx.tenantId, id })
    .update({
      name: ANONYMIZED_NAME,
      email: null,
      phone: null,
      tax_id: null,
      billing_address: null,
      shipping_address: null,
      external_id: null,
      metadata: '{}',
      preferences: '{}',
      status: trx.raw(`case when status in ('deleted', 'merged') then status else 'inactive' end`),
      anonymized_at: trx.fn.now(),
      version: trx.raw('version + 1'),
      updated_at: trx.fn.now(),
    })
    .returning('*')
  return getCustomer(trx, ctx, updated.id)
}

// ---- credit policy --------------------------------------------------------------------------------

/** One page of the ids of the tenant's live customers (not deleted, merged or anonymized), in id order (the credit sweep's chunks). */
export async function customerIdsPage(trx: Trx, ctx: RequestContext, after: string | null, limit: number): Promise<string[]> {
  const q = trx('customers').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at').whereNot('status', 'merged').whereNull('anonymized_at').orderBy('id').limit(limit).select('id')
  if (after) q.where('id', '>', after)
  return (await q).map((r: { id: string }) => r.id)
}

/**
 * Applies the credit policy's status and credit-hold changes to many customers in one statement
 * (the policy audits and announces them itself, with its rule and version).
 */
export async function setPolicyFlags(trx: Trx, ctx: RequestContext, changes: { id: string; status: 'active' | 'suspended'; credit_hold: boolean }[]): Promise<void> {
  if (!changes.length) return
  await trx.raw(
    `update customers c set status = v.status, credit_hold = v.credit_hold, version = c.version + 1, updated_at = now()
       from jsonb_to_recordset(?::jsonb) as v(id text, status text, credit_hold boolean)
      where c.tenant_id = ? and c.id = v.id and c.deleted_at is null and c.status <> 'merged' and c.anonymized_at is null`,
    [JSON.stringify(changes), ctx.tenantId],
  )
}

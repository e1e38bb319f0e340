import type { Trx } from '../core/kernel/db/knex'
import { afterCommit } from '../core/kernel/db/tenant'
import { AppError, notFound } from '../core/kernel/errors'
import { newId, tenantPublicId } from '../core/kernel/ids'
import { accountingToday } from '../core/kernel/dates'
import { emitEvent } from '../core/outbox/outbox'
import { recordAudit } from '../core/audit/service'
import type { RequestContext } from '../core/kernel/context'
import { paginate, page } from '../core/kernel/pagination'
import { generateSecret, hashSecret } from './keys'
import { evictKey } from './key-cache'
import { resolveRole } from './roles'

export interface TenantRow {
  tenant_id: string
  name: string
  base_currency: string
  timezone: string
  sandbox: boolean
  test_clock_date: string | null
  created_at: Date
}

const TIMEZONES = new Set([...Intl.supportedValuesOf('timeZone'), 'UTC'])

export function tenantView(t: TenantRow) {
  return {
    id: tenantPublicId(t.tenant_id),
    object: 'tenant' as const,
    name: t.name,
    base_currency: t.base_currency,
    timezone: t.timezone,
    sandbox: t.sandbox,
    test_clock_date: t.test_clock_date,
    created: t.created_at.toISOString(),
  }
}

export function apiKeyView(k: { id: string; name: string; role: string; user_label: string | null; mode: string; last4: string; created_at: Date; revoked_at: Date | null }) {
  return {
    id: k.id,
    object: 'api_key' as const,
    name: k.name,
    role: k.role,
    user: k.user_label,
    mode: k.mode,
    last4: k.last4,
    created: k.created_at.toISOString(),
    revoked: k.revoked_at ? k.revoked_at.toISOString() : null,
  }
}

/** Inserts the tenant row and its directory entry (how workers find tenants: ids only). */
export async function insertTenant(trx: Trx, tenantId: string, input: { name: string; base_currency: string; timezone: string; sandbox: boolean }): Promise<TenantRow> {
  const [tenant] = await trx('tenants').insert({ tenant_id: tenantId, ...input }).returning('*')
  await trx('tenant_directory').insert({ tenant_id: tenantId, created_at: tenant.created_at })
  return tenant
}

/** Refuses a timezone the runtime does not know. */
export function assertTimezone(timezone: string): string {
  if (!TIMEZONES.has(timezone)) throw new AppError('validation_failed', `Unknown timezone '${timezone}'.`, { param: 'timezone' })
  return timezone
}


export async function getTenant(trx: Trx, tenantId: string): Promise<TenantRow> {
  const t = await trx('tenants').where({ tenant_id: tenantId }).first()
  if (!t) throw notFound('tenant')
  return t
}

/** The tenant's accounting "today": its test clock in sandbox mode, else the date in its timezone. */
export async function tenantToday(trx: Trx, tenantId: string): Promise<string> {
  return accountingToday(await getTenant(trx, tenantId))
}

/** The tenant's accounting date, and whether it runs on a test clock (sandbox tenants). */
export async function getTestClock(trx: Trx, ctx: RequestContext) {
  const t = await getTenant(trx, ctx.tenantId)
  return { object: 'test_clock' as const, sandbox: t.sandbox, date: await tenantToday(trx, ctx.tenantId) }
}

/**
 * Moves a sandbox tenant's test clock forward to `date`, so time-driven behaviour (due dates,
 * aging, schedules) can be exercised. Live tenants have no test clock; a clock never goes back.
 */
export async function advanceTestClock(trx: Trx, ctx: RequestContext, date: string) {
  const t = await trx('tenants').where({ tenant_id: ctx.tenantId }).forUpdate().first()
  if (!t) throw notFound('tenant')
  if (!t.sandbox) throw new AppError('invalid_state', 'Only sandbox tenants have a test clock.')
  const today = await tenantToday(trx, ctx.tenantId)
  if (date < today) throw new AppError('invalid_state', `A test clock only moves forward (it reads ${today}).`, { param: 'date' })
  await trx('tenants').where({ tenant_id: ctx.tenantId }).update({ test_clock_date: date })
  await recordAudit(trx, ctx, { action: 'test_clock.advanced', entity_type: 'tenant', entity_id: tenantPublicId(ctx.tenantId), before: { date: today }, after: { date } })
  // Time-driven work (the credit policy's per-customer evaluation) follows the clock.
  await emitEvent(trx, ctx, 'test_clock.advanced', { object: 'test_clock', sandbox: true, date, previous_date: today })
  return { object: 'test_clock' as const, sandbox: true, date }
}

export async function insertKey(trx: Trx, ctx: RequestContext, input: { name: string; role: string; user?: string | null; mode: 'test' | 'live' }) {
  const secret = generateSecret(ctx.tenantId, input.mode)
  const [row] = await trx('api_keys')
    .insert({
      tenant_id: ctx.tenantId,
      id: newId('key'),
      name: input.name,
      role: input.role,
      user_label: input.user ?? null,
      mode: input.mode,
      secret_hash: hashSecret(secret),
      last4: secret.slice(-4),
      created_by: ctx.keyId,
    })
    .returning('*')
  return { row, secret }
}

/** A key for a built-in or custom role (by id or name), optionally labelled with its staff `user`. */
export async function createApiKey(trx: Trx, ctx: RequestContext, input: { name: string; role: string; user?: string | null; mode?: 'test' | 'live' }) {
  const tenant = await getTenant(trx, ctx.tenantId)
  const role = await resolveRole(trx, ctx, input.role)
  const { row, secret } = await insertKey(trx, ctx, { ...input, role, mode: input.mode ?? (tenant.sandbox ? 'test' : 'live') })
  const view = apiKeyView(row)
  await recordAudit(trx, ctx, { action: 'api_key.created', entity_type: 'api_key', entity_id: row.id, after: view })
  return { ...view, secret }
}

export async function listApiKeys(trx: Trx, ctx: RequestContext, q: { limit?: number; starting_after?: string }) {
  const { rows, has_more } = await paginate<any>(trx('api_keys').where({ tenant_id: ctx.tenantId }), q)
  return page(rows.map(apiKeyView), has_more)
}

export async function revokeApiKey(trx: Trx, ctx: RequestContext, id: string) {
  const key = await trx('api_keys').where({ tenant_id: ctx.tenantId, id }).forUpdate().first()
  if (!key) throw notFound('api key', id)
  if (key.revoked_at) throw new AppError('api_key_revoked')
  const [row] = await trx('api_keys')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ revoked_at: trx.fn.now(), revoked_by: ctx.keyId })
    .returning('*')
  // Evict after commit: evicting earlier lets a request re-cache the key before the revoke is visible.
  afterCommit(trx, () => evictKey(key.secret_hash))
  await recordAudit(trx, ctx, { action: 'api_key.revoked', entity_type: 'api_key', entity_id: id, before: apiKeyView(key), after: apiKeyView(row) })
  return apiKeyView(row)
}

import type { Trx } from '../core/kernel/db/knex'
import type { RequestContext } from '../core/kernel/context'
import { AppError, notFound } from '../core/kernel/errors'
import { tenantPublicId } from '../core/kernel/ids'
import { recordAudit } from '../core/audit/service'
import { emitEvent } from '../core/outbox/outbox'
import { DEFAULT_PAYMENT_METHODS, DEFAULT_RATE_LIMIT, type ApprovalSettings, type MerchantSettings, type PaymentMethodSetting, type RateLimitSettings, type UpdateSettingsInput } from '../core/settings/schemas'
import { evictLedgerContext } from '../core/ledger/engine'
import { afterCommit } from '../core/kernel/db/tenant'
import { assertTimezone } from './service'
import { evictTenantKeys } from './key-cache'

/**
 * Tenant settings (`GET/PATCH /v1/settings`): the timezone column and the `approvals`, `merchant`,
 * `payment_methods` and `rate_limit` parts of `tenants.settings` (jsonb). Absent keys read as their defaults,
 * so a tenant provisioned before a setting existed behaves as the default says.
 */

export const DEFAULT_APPROVALS: ApprovalSettings = { refund_over: null, write_off_over: null, reversal_over: null, credit_limit_increase: true, repair: false }

interface TenantSettingsRow {
  base_currency: string
  timezone: string
  settings: { approvals?: Partial<ApprovalSettings>; merchant?: Partial<MerchantSettings>; payment_methods?: PaymentMethodSetting[]; rate_limit?: Partial<RateLimitSettings> } | null
}

export const DEFAULT_MERCHANT: MerchantSettings = { name: null, address: null, tax_id: null, email: null, phone: null, payment_instructions: null }

function settingsView(row: TenantSettingsRow) {
  return {
    object: 'settings' as const,
    base_currency: row.base_currency,
    timezone: row.timezone,
    approvals: { ...DEFAULT_APPROVALS, ...(row.settings?.approvals ?? {}) },
    merchant: { ...DEFAULT_MERCHANT, ...(row.settings?.merchant ?? {}) },
    payment_methods: row.settings?.payment_methods ?? [...DEFAULT_PAYMENT_METHODS],
    rate_limit: { ...DEFAULT_RATE_LIMIT, ...(row.settings?.rate_limit ?? {}) },
  }
}

export type SettingsView = ReturnType<typeof settingsView>

async function settingsRow(trx: Trx, tenantId: string, forUpdate = false): Promise<TenantSettingsRow> {
  const q = trx('tenants').where({ tenant_id: tenantId })
  if (forUpdate) q.forUpdate()
  const row: TenantSettingsRow | undefined = await q.first('base_currency', 'timezone', 'settings')
  if (!row) throw notFound('tenant')
  return row
}

export async function getSettings(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): Promise<SettingsView> {
  return settingsView(await settingsRow(trx, ctx.tenantId))
}

/** The tenant's approval thresholds and switches (defaults filled in). */
export async function approvalSettings(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): Promise<ApprovalSettings> {
  return (await getSettings(trx, ctx)).approvals
}

/** Applies the given keys under the tenant row's lock; audited with before/after, announced as `settings.updated`. */
export async function updateSettings(trx: Trx, ctx: RequestContext, input: UpdateSettingsInput): Promise<SettingsView> {
  const row = await settingsRow(trx, ctx.tenantId, true)
  const before = settingsView(row)
  const timezone = input.timezone === undefined ? row.timezone : assertTimezone(input.timezone)
  const settings = {
    ...(row.settings ?? {}),
    approvals: { ...(row.settings?.approvals ?? {}), ...(input.approvals ?? {}) },
    ...(input.merchant ? { merchant: { ...(row.settings?.merchant ?? {}), ...input.merchant } } : {}),
    ...(input.payment_methods ? { payment_methods: uniqueCodes(input.payment_methods) } : {}),
    ...(input.rate_limit ? { rate_limit: { ...(row.settings?.rate_limit ?? {}), ...input.rate_limit } } : {}),
  }
  const after = settingsView({ ...row, timezone, settings })
  if (JSON.stringify(before) === JSON.stringify(after)) return before
  await trx('tenants').where({ tenant_id: ctx.tenantId }).update({ timezone, settings: JSON.stringify(settings) })
  // Payments see the new methods at once in this process (others within the ledger context's TTL).
  evictLedgerContext(ctx.tenantId)
  afterCommit(trx, () => evictLedgerContext(ctx.tenantId))
  // Cached keys carry the tenant's rate limit: a new one applies at once here (elsewhere within the key cache's TTL).
  if (input.rate_limit) afterCommit(trx, () => evictTenantKeys(ctx.tenantId))
  await recordAudit(trx, ctx, { action: 'settings.updated', entity_type: 'tenant', entity_id: tenantPublicId(ctx.tenantId), before, after })
  await emitEvent(trx, ctx, 'settings.updated', after)
  return after
}

function uniqueCodes(methods: PaymentMethodSetting[]): PaymentMethodSetting[] {
  const seen = new Set<string>()
  methods.forEach((m, i) => {
    if (seen.has(m.code)) throw new AppError('validation_failed', `Payment method '${m.code}' is listed twice.`, { param: `payment_methods.${i}.code` })
    seen.add(m.code)
  })
  return methods.map((m) => ({ code: m.code, name: m.name, account_role: m.account_role }))
}

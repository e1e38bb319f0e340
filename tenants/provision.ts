import { randomUUID } from 'node:crypto'
import type { Db } from '../core/kernel/db/knex'
import { withTenant } from '../core/kernel/db/tenant'
import { tenantPublicId } from '../core/kernel/ids'
import { assertCurrency } from '../core/kernel/money'
import type { RequestContext } from '../core/kernel/context'
import { recordAudit } from '../core/audit/service'
import { configurePlugin, DEFAULT_COA_PLUGIN } from '../core/plugins/service'
import { assertTimezone, insertKey, insertTenant, tenantView } from './service'
import { claimPlatformKey, storePlatformResponse, type PlatformAnswer, type PlatformIdempotency } from './platform-idempotency'

/**
 * Workflow: provision a tenant (tenant row, first admin key, the default chart of accounts, audit)
 * in one transaction scoped to the new tenant's id, so the runtime role never sees across tenants.
 */

type CreatedTenant = ReturnType<typeof tenantView> & { api_key: string }

/**
 * With `idempotency` (a platform `Idempotency-Key`, see ./platform-idempotency.ts) the key is
 * claimed first and the response stored in the same transaction as the tenant, so one key can
 * never create two tenants; a replay answers the first response.
 */
export async function createTenant(
  db: Db,
  ctxFor: (tenantId: string) => RequestContext,
  input: { name: string; base_currency: string; timezone?: string; sandbox?: boolean },
  idempotency: PlatformIdempotency | null = null,
): Promise<PlatformAnswer<CreatedTenant>> {
  const base_currency = assertCurrency(input.base_currency, 'base_currency')
  const timezone = assertTimezone(input.timezone ?? 'UTC')
  const tenantId = randomUUID()
  const ctx = ctxFor(tenantId)
  return withTenant(db, tenantId, async (trx) => {
    if (idempotency) {
      const prior = await claimPlatformKey(trx, idempotency)
      if (prior) return prior as PlatformAnswer<CreatedTenant>
    }
    const tenant = await insertTenant(trx, tenantId, { name: input.name, base_currency, timezone, sandbox: input.sandbox ?? false })
    const key = await insertKey(trx, ctx, { name: 'Admin key', role: 'admin', mode: tenant.sandbox ? 'test' : 'live' })
    await configurePlugin(trx, ctx, DEFAULT_COA_PLUGIN, { enabled: true, config: {} })
    await recordAudit(trx, ctx, { action: 'tenant.created', entity_type: 'tenant', entity_id: tenantPublicId(tenantId), after: tenantView(tenant) })
    const body: CreatedTenant = { ...tenantView(tenant), api_key: key.secret }
    if (idempotency) await storePlatformResponse(trx, idempotency, 201, body)
    return { replayed: false, status: 201, body }
  })
}

import type { Db } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { forEachTenant } from '../jobs/tenants'
import { verifyAuditChain } from '../audit/service'

/**
 * Audit coverage for /metrics: every tenant's audit chain re-verified with verifyAuditChain (the
 * check `GET /v1/audit/verify` runs), aggregated over tenants (no tenant is named). The check
 * rehashes the whole chain in SQL, so it runs one tenant at a time, in the background, at most every
 * AUDIT_VERIFY_TTL_MS (core/ops/metrics.ts), never on the scrape's path.
 */
export interface AuditFigures {
  tenants: number
  /** Tenants whose chain verified (every hash, link and position matches). */
  verified: number
  /** Tenants whose chain did not: a row tampered with, removed or out of place. */
  broken: number
  /** Tenants whose check itself failed (an error, e.g. a timeout): neither verified nor broken. */
  errors: number
  /** Audit rows checked, over tenants. */
  rows: number
  /** When this pass finished (ms since the epoch). */
  finishedAt: number
}

export async function auditFigures(db: Db, onError: (tenantId: string, err: unknown) => void = () => undefined): Promise<AuditFigures> {
  const out: AuditFigures = { tenants: 0, verified: 0, broken: 0, errors: 0, rows: 0, finishedAt: 0 }
  await forEachTenant(
    db,
    async (tenantId) => {
      out.tenants++
      try {
        const v = await withTenant(db, tenantId, (trx) => verifyAuditChain(trx, tenantId))
        out.rows += v.checked
        if (v.ok) out.verified++
        else out.broken++
      } catch (err) {
        out.errors++
        onError(tenantId, err)
      }
    },
    { concurrency: 1 },
  )
  out.finishedAt = Date.now()
  return out
}

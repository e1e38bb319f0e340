import { afterCommit } from '../kernel/db/tenant'
import type { Trx } from '../kernel/db/knex'

/**
 * Per-tenant job controls: a pause switch (the tenant's jobs are put back, delayed, until it is
 * resumed; nothing is lost) and a cap on how many of its jobs of one type run at once across all
 * workers. Stored in tenant_job_settings; workers read them through a short per-process cache.
 */

export interface TenantJobSettings {
  paused: boolean
  paused_at: Date | null
  paused_reason: string | null
  /** Per job type, across all workers; null → the type's default (half its concurrency, ≥ 1). */
  concurrency: number | null
}

const CACHE_TTL_MS = 2000
const CACHE_MAX = 10000
const cache = new Map<string, { settings: TenantJobSettings; expires: number }>()

export async function getJobSettings(trx: Trx, tenantId: string): Promise<TenantJobSettings> {
  const row = await trx('tenant_job_settings').where({ tenant_id: tenantId }).first('paused_at', 'paused_reason', 'concurrency')
  return { paused: !!row?.paused_at, paused_at: row?.paused_at ?? null, paused_reason: row?.paused_reason ?? null, concurrency: row?.concurrency ?? null }
}

/** Cached read for the worker's hot path (a change takes effect within CACHE_TTL_MS everywhere). */
export async function cachedJobSettings(tenantId: string, load: () => Promise<TenantJobSettings>): Promise<TenantJobSettings> {
  const hit = cache.get(tenantId)
  if (hit && hit.expires > Date.now()) return hit.settings
  const settings = await load()
  if (cache.size >= CACHE_MAX) cache.clear()
  cache.set(tenantId, { settings, expires: Date.now() + CACHE_TTL_MS })
  return settings
}

export function evictJobSettings(tenantId: string): void {
  cache.delete(tenantId)
}

/** Pauses or resumes the tenant's jobs, and/or sets its concurrency cap. */
export async function setJobSettings(
  trx: Trx,
  tenantId: string,
  change: { paused?: boolean; reason?: string | null; concurrency?: number | null },
): Promise<TenantJobSettings> {
  const values: Record<string, unknown> = { tenant_id: tenantId, updated_at: trx.fn.now() }
  if (change.paused !== undefined) {
    values.paused_at = change.paused ? trx.fn.now() : null
    values.paused_reason = change.paused ? (change.reason ?? null) : null
  }
  if (change.concurrency !== undefined) values.concurrency = change.concurrency
  await trx('tenant_job_settings').insert(values).onConflict('tenant_id').merge()
  // This process sees the change at once; other workers within the cache TTL.
  afterCommit(trx, () => evictJobSettings(tenantId))
  return getJobSettings(trx, tenantId)
}

import type { Access } from '../core/kernel/permissions'

/**
 * A short-lived, bounded cache of API-key lookups (hash → key id, user and access), so
 * authentication does not cost a database round trip on every request. Revoking a key, changing
 * or deleting a custom role, or changing the tenant's rate limit evicts in this process at once;
 * other replicas follow within TTL_MS.
 */
const TTL_MS = 5000
const MAX_ENTRIES = 10000

export interface CachedKey {
  tenantId: string
  keyId: string
  user: string | null
  access: Access
  /** The tenant's own request budget per key (settings `rate_limit.requests_per_key`); null: the platform's. */
  requestsPerKey: number | null
}

const entries = new Map<string, { key: CachedKey; expires: number }>()

export function getCachedKey(hash: string): CachedKey | undefined {
  const e = entries.get(hash)
  if (!e) return undefined
  if (e.expires < Date.now()) {
    entries.delete(hash)
    return undefined
  }
  return e.key
}

export function cacheKey(hash: string, key: CachedKey): void {
  if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value as string)
  entries.set(hash, { key, expires: Date.now() + TTL_MS })
}

export function evictKey(hash: string): void {
  entries.delete(hash)
}

/** Evicts every cached key of a tenant (its roles changed). */
export function evictTenantKeys(tenantId: string): void {
  for (const [hash, e] of entries) if (e.key.tenantId === tenantId) entries.delete(hash)
}

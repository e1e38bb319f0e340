import type { Access } from '../core/kernel/permissions'

/**
 * A short-lived, bounded cache of API-key lookups (hash → key id, user and access), so
 * authentication does not cost a database round trip on every request. Revoking a key, changing
 * or deleting a custom role, or changing the tenant's rate limit evicts in this process at once;
 * other replicas follow within TTL_MS.
 *
 * Misses (a token shaped like a key that is none: made up, or revoked) are remembered as long, in
 * their own bounded map, so a flood of made-up tokens cannot push real keys out, and a token that
 * is no key costs one lookup per TTL_MS instead of one per use. Caching a miss is safe: a new key's
 * secret is random, so nobody can present it before it exists.
 */
const TTL_MS = 5000
const MAX_ENTRIES = 10000
const MAX_MISSES = 10000

export interface CachedKey {
  tenantId: string
  keyId: string
  user: string | null
  access: Access
  /** The tenant's own request budget per key (settings `rate_limit.requests_per_key`); null: the platform's. */
  requestsPerKey: number | null
}

const entries = new Map<string, { key: CachedKey; expires: number }>()
const misses = new Map<string, number>()

/** The key of this secret hash: cached, known to be none (null), or not known here (undefined). */
export function getCachedKey(hash: string): CachedKey | null | undefined {
  const e = entries.get(hash)
  if (e && e.expires >= Date.now()) return e.key
  if (e) entries.delete(hash)
  const missUntil = misses.get(hash)
  if (missUntil !== undefined && missUntil >= Date.now()) return null
  if (missUntil !== undefined) misses.delete(hash)
  return undefined
}

/** Caches a lookup: the key found, or null for a secret that is no (active) key. */
export function cacheKey(hash: string, key: CachedKey | null): void {
  const [map, max] = key ? [entries, MAX_ENTRIES] : [misses, MAX_MISSES]
  if (map.size >= max) map.delete(map.keys().next().value as string)
  if (key) entries.set(hash, { key, expires: Date.now() + TTL_MS })
  else misses.set(hash, Date.now() + TTL_MS)
}

export function evictKey(hash: string): void {
  entries.delete(hash)
}

/** Evicts every cached key of a tenant (its roles changed). */
export function evictTenantKeys(tenantId: string): void {
  for (const [hash, e] of entries) if (e.key.tenantId === tenantId) entries.delete(hash)
}

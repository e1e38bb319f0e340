/**
 * A short-lived, bounded cache of API-key lookups (hash → key id and role), so authentication does
 * not cost a database round trip on every request. Revoking a key evicts it in this process at
 * once; other replicas stop accepting it within TTL_MS.
 */
const TTL_MS = 5000
const MAX_ENTRIES = 10000

export interface CachedKey {
  tenantId: string
  keyId: string
  role: string
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

import { createHash, randomBytes } from 'node:crypto'

/**
 * API key secrets: `sk_<mode>_` + base64url(tenant uuid bytes ‖ 32 random bytes). The tenant part
 * lets authentication open the right tenant transaction (RLS stays on) before looking the hash up;
 * the 32 random bytes are the secret. Only the SHA-256 of the whole string is stored.
 */
export function generateSecret(tenantId: string, mode: 'test' | 'live'): string {
  const tenant = Buffer.from(tenantId.replace(/-/g, ''), 'hex')
  return `sk_${mode}_${Buffer.concat([tenant, randomBytes(32)]).toString('base64url')}`
}

export function parseSecret(secret: string): { tenantId: string; mode: 'test' | 'live' } | null {
  const m = /^sk_(test|live)_([A-Za-z0-9_-]{64})$/.exec(secret)
  if (!m) return null
  const raw = Buffer.from(m[2], 'base64url')
  if (raw.length !== 48) return null
  const h = raw.subarray(0, 16).toString('hex')
  return { mode: m[1] as 'test' | 'live', tenantId: `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` }
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex')
}

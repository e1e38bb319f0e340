import { createHash, randomBytes } from 'node:crypto'
import type { Trx } from '../kernel/db/knex'
import { tenantPublicId, tenantUuid } from '../kernel/ids'

/**
 * The console session record (`console_sessions`: the only SQL on it). A session is an API key
 * exchanged for a cookie: the cookie value is `<tenant public id>.<32 random bytes, base64url>`,
 * so authentication can open the tenant's transaction (RLS stays on) before looking the session
 * up; only the SHA-256 of the whole value is stored. A session lives as long as its key is not
 * revoked and `expires_at` is ahead.
 */

export const SESSION_TTL_SECONDS = 8 * 60 * 60

export interface SessionKey {
  session_id: string
  csrf_secret: string
  expires_at: Date
  id: string
  name: string
  role: string
  user_label: string | null
  permissions: string[] | null
  own_customers_only: boolean | null
}

export function hashSessionToken(token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/** The tenant (uuid) a cookie value names, or null when it cannot be a session token. */
export function parseSessionToken(token: string): { tenantId: string } | null {
  const m = /^(ten_[0-9a-f]{32})\.([A-Za-z0-9_-]{43})$/.exec(token)
  const tenantId = m ? tenantUuid(m[1]) : null
  return tenantId ? { tenantId } : null
}

/** Opens a session for the key; returns the cookie value (shown once, never stored). */
export async function createSession(trx: Trx, tenantId: string, apiKeyId: string, csrfSecret: string, now = new Date()): Promise<{ token: string; id: string; expiresAt: Date }> {
  const token = `${tenantPublicId(tenantId)}.${randomBytes(32).toString('base64url')}`
  const expiresAt = new Date(now.getTime() + SESSION_TTL_SECONDS * 1000)
  const id = hashSessionToken(token)
  await trx('console_sessions').insert({ tenant_id: tenantId, id, api_key_id: apiKeyId, csrf_secret: csrfSecret, expires_at: expiresAt })
  return { token, id, expiresAt }
}

/** The live session of `token` with its (unrevoked) key and the key's custom role, if any. */
export async function findSession(trx: Trx, tenantId: string, token: string): Promise<SessionKey | undefined> {
  return trx('console_sessions as s')
    .join('api_keys as k', function () {
      this.on('k.tenant_id', 's.tenant_id').andOn('k.id', 's.api_key_id')
    })
    .leftJoin('roles as r', function () {
      this.on('r.tenant_id', 'k.tenant_id').andOn('r.id', 'k.role')
    })
    .where({ 's.tenant_id': tenantId, 's.id': hashSessionToken(token) })
    .where('s.expires_at', '>', trx.fn.now())
    .whereNull('k.revoked_at')
    .first('s.id as session_id', 's.csrf_secret', 's.expires_at', 'k.id', 'k.name', 'k.role', 'k.user_label', 'r.permissions', 'r.own_customers_only')
}

/** Ends the session (sign-out), and drops the tenant's expired ones on the way. */
export async function deleteSession(trx: Trx, tenantId: string, sessionId: string): Promise<void> {
  await trx('console_sessions')
    .where({ tenant_id: tenantId })
    .andWhere((q) => q.where({ id: sessionId }).orWhere('expires_at', '<=', trx.fn.now()))
    .delete()
}

export async function tenantName(trx: Trx, tenantId: string): Promise<string | null> {
  const row = await trx('tenants').where({ tenant_id: tenantId }).first('name')
  return row?.name ?? null
}

export async function keyName(trx: Trx, tenantId: string, keyId: string): Promise<string> {
  const row = await trx('api_keys').where({ tenant_id: tenantId, id: keyId }).first('name')
  return row?.name ?? ''
}

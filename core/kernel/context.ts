import type { Access } from './permissions'

/** Who is acting and from where: passed to every service function that writes, with the trx. */
export interface RequestContext {
  tenantId: string // uuid
  keyId: string | null // null for the platform admin or a worker
  /** The key's staff member (`user` label), if it has one. */
  user: string | null
  /** The role's name (a built-in, a custom role's id), or `platform` / `system`. */
  role: string
  /** The key's permissions, ability and row scope (core/kernel/permissions.ts). */
  access: Access
  requestId: string
  ip: string | null
  userAgent: string | null
  idempotencyKey: string | null
}

/** Context for background jobs and internal callers, acting as the system. */
export function systemContext(tenantId: string, access: Access, requestId = 'job'): RequestContext {
  return { tenantId, keyId: null, user: null, role: 'system', access, requestId, ip: null, userAgent: null, idempotencyKey: null }
}

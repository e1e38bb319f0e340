import type { AppAbility, Role } from './permissions'

/** Who is acting and from where: passed to every service function that writes, with the trx. */
export interface RequestContext {
  tenantId: string // uuid
  keyId: string | null // null for the platform admin or a worker
  role: Role | 'platform' | 'system'
  ability: AppAbility
  requestId: string
  ip: string | null
  userAgent: string | null
  idempotencyKey: string | null
}

/** Context for background jobs and internal callers, acting as the system. */
export function systemContext(tenantId: string, ability: AppAbility, requestId = 'job'): RequestContext {
  return { tenantId, keyId: null, role: 'system', ability, requestId, ip: null, userAgent: null, idempotencyKey: null }
}

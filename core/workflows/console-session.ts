import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { recordAudit } from '../audit/service'
import { createSession, deleteSession, keyName } from '../console/model'

/**
 * Workflow: signing in to the console and out of it (API.md "Console"). The session row and its
 * audit row (actor: the key) are written together, so an auditor sees who opened the console, when
 * and from where (the audit row's ip and user agent). The audit names the session by the first
 * characters of its id (itself a hash of the cookie), never by anything that could stand in for it.
 */

const sessionRef = (sessionId: string) => `cs_${sessionId.slice(0, 16)}`

export async function signInToConsole(trx: Trx, ctx: RequestContext, csrfSecret: string) {
  const session = await createSession(trx, ctx.tenantId, ctx.keyId!, csrfSecret)
  await recordAudit(trx, ctx, { action: 'console.signed_in', entity_type: 'console_session', entity_id: sessionRef(session.id), after: { expires_at: session.expiresAt.toISOString() } })
  return { session, name: await keyName(trx, ctx.tenantId, ctx.keyId!) }
}

export async function signOutOfConsole(trx: Trx, ctx: RequestContext, sessionId: string): Promise<void> {
  await deleteSession(trx, ctx.tenantId, sessionId)
  await recordAudit(trx, ctx, { action: 'console.signed_out', entity_type: 'console_session', entity_id: sessionRef(sessionId) })
}

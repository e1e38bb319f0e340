import type { Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { newId } from '../ids'

/** Writes a domain event to the outbox in the caller's transaction; the relay publishes it after commit. */
export async function emitEvent(trx: Trx, ctx: RequestContext, type: string, object: unknown): Promise<string> {
  const id = newId('evt')
  await trx('events').insert({
    tenant_id: ctx.tenantId,
    id,
    type,
    data: JSON.stringify({ object }),
    request_id: ctx.requestId,
    idempotency_key: ctx.idempotencyKey,
  })
  return id
}

import { prepared, type Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { newId } from '../ids'

/** Writes a domain event to the outbox in the caller's transaction; the relay publishes it after commit. */
export async function emitEvent(trx: Trx, ctx: RequestContext, type: string, object: unknown): Promise<string> {
  const id = newId('evt')
  await prepared(trx, `insert into events (tenant_id, id, type, data, request_id, idempotency_key) values (?, ?, ?, ?, ?, ?)`, [
    ctx.tenantId,
    id,
    type,
    JSON.stringify({ object }),
    ctx.requestId,
    ctx.idempotencyKey,
  ])
  return id
}

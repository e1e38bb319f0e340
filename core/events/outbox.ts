import { prepared, type Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { newId } from '../ids'

export interface OutboxEvent {
  ctx: RequestContext
  type: string
  object: unknown
}

/** Writes a domain event to the outbox in the caller's transaction; the relay publishes it after commit. */
export async function emitEvent(trx: Trx, ctx: RequestContext, type: string, object: unknown): Promise<string> {
  return (await emitEvents(trx, [{ ctx, type, object }]))[0]
}

/** Writes several events of one tenant in one statement (in order); returns their ids. */
export async function emitEvents(trx: Trx, events: OutboxEvent[]): Promise<string[]> {
  if (!events.length) return []
  const rows = events.map((e) => ({
    id: newId('evt'),
    type: e.type,
    data: { object: e.object },
    request_id: e.ctx.requestId,
    idempotency_key: e.ctx.idempotencyKey,
  }))
  await prepared(
    trx,
    `insert into events (tenant_id, id, type, data, request_id, idempotency_key)
     select ?, e.id, e.type, e.data, e.request_id, e.idempotency_key
       from jsonb_to_recordset(?::jsonb) as e(id text, type text, data jsonb, request_id text, idempotency_key text)`,
    [events[0].ctx.tenantId, JSON.stringify(rows)],
  )
  return rows.map((r) => r.id)
}

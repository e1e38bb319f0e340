import { runWrites, type Trx, type Write } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { defineTable, insertWrite } from '../kernel/db/table'
import { sealValues } from '../privacy/sealing'

export interface OutboxEvent {
  ctx: RequestContext
  type: string
  object: unknown
}

const eventsTable = defineTable<{ id: string; type: string; data: { object: unknown }; customer_id: string | null; request_id: string | null; idempotency_key: string | null }>(
  'events',
  { id: 'text', type: 'text', data: 'json', customer_id: 'text', request_id: 'text', idempotency_key: 'text' },
  ['id'],
)

/**
 * The customer an object is about: the customer itself, or a document's `customer`. Stored with the
 * event (and the audit row) so keys limited to their own customers see only their customers' rows.
 */
export function customerOf(object: unknown): string | null {
  if (!object || typeof object !== 'object') return null
  const o = object as { object?: unknown; id?: unknown; customer?: unknown }
  if (o.object === 'customer' && typeof o.id === 'string') return o.id
  return typeof o.customer === 'string' ? o.customer : null
}

/** Writes a domain event to the outbox in the caller's transaction; the relay publishes it after commit. */
export async function emitEvent(trx: Trx, ctx: RequestContext, type: string, object: unknown): Promise<string> {
  return (await emitEvents(trx, [{ ctx, type, object }]))[0]
}

/**
 * The writes of several events of one tenant, for runWrites, with their new ids (in order). The
 * customers' personal data in the objects is sealed under their data keys (core/privacy/sealing.ts):
 * one key statement for the batch, none when no object carries a customer.
 */
export async function eventWrites(trx: Trx, events: OutboxEvent[]): Promise<{ write: Write | null; ids: string[] }> {
  if (!events.length) return { write: null, ids: [] }
  const sealed = await sealValues(trx, events[0].ctx.tenantId, events.map((e) => e.object))
  const rows = events.map((e, i) => ({
    id: newId('evt'),
    type: e.type,
    data: { object: sealed[i] },
    customer_id: customerOf(e.object),
    request_id: e.ctx.requestId,
    idempotency_key: e.ctx.idempotencyKey,
  }))
  return { ids: rows.map((r) => r.id), write: insertWrite(eventsTable, events[0].ctx.tenantId, rows) }
}

/** Writes several events of one tenant in one statement (in order); returns their ids. */
export async function emitEvents(trx: Trx, events: OutboxEvent[]): Promise<string[]> {
  const { write, ids } = await eventWrites(trx, events)
  await runWrites(trx, [write])
  return ids
}

/** Publications of one event at most (the relay's default, core/events/relay.ts), then it is stuck. */
export const MAX_PUBLISHES = 10

/**
 * Events the relay gave up on: published MAX_PUBLISHES times and never dispatched (their dispatch
 * jobs kept failing, or were lost). They stay in the outbox; the metrics count them
 * (outbox_stuck_events) and an operator hands them back to the relay (republishStuck).
 */
export const STUCK_EVENTS_SQL = `dispatched_at is null and publish_count >= ${MAX_PUBLISHES}`

/**
 * Hands a tenant's stuck events (STUCK_EVENTS_SQL) back to the relay, which publishes them at its
 * next turn under fresh job ids (their publish count goes on); returns how many.
 */
export async function republishStuck(trx: Trx, tenantId: string): Promise<number> {
  const { rowCount } = await trx.raw(`update events set published_at = null where tenant_id = ? and ${STUCK_EVENTS_SQL}`, [tenantId])
  return rowCount ?? 0
}

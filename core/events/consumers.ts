import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'

/**
 * Consumers of domain events. The dispatcher (core/events/dispatch.ts) runs every registered
 * consumer for each published event, each in its own tenant transaction that first records
 * `(tenant_id, consumer, event_id)` in `consumed_events`: a redelivered or duplicated job finds the
 * row and skips, so a consumer's effect happens exactly once as long as it writes only through
 * `trx`. A consumer that throws rolls back its effect and the dispatch job is retried; consumers
 * that already succeeded are not run again.
 *
 *   registerEventConsumer('webhooks', async (trx, ctx, event) => {
 *     await createDeliveries(trx, ctx, event) // e.g. one row per subscribed endpoint
 *   })
 */

export interface EventRow {
  id: string
  type: string
  data: { object: unknown }
  created_at: Date
  request_id: string | null
  idempotency_key: string | null
}

export type EventConsumer = (trx: Trx, ctx: RequestContext, event: EventRow) => Promise<void>

const NAME_RE = /^[a-z][a-z0-9_.-]{0,62}$/
const consumers = new Map<string, EventConsumer>()

/** Registers a consumer under a stable name (the dedupe key: renaming it re-runs old events). */
export function registerEventConsumer(name: string, handler: EventConsumer): void {
  if (!NAME_RE.test(name)) throw new Error(`registerEventConsumer: invalid name '${name}'`)
  if (consumers.has(name)) throw new Error(`registerEventConsumer: '${name}' is already registered`)
  consumers.set(name, handler)
}

/** Registered consumers, in registration order. */
export function eventConsumers(): ReadonlyMap<string, EventConsumer> {
  return consumers
}

export const EVENT_COLUMNS = ['id', 'type', 'data', 'created_at', 'request_id', 'idempotency_key'] as const

/** The API's event object (GET /v1/events and webhook payloads share it). */
export function eventView(row: EventRow, tenantPublicId: string) {
  return {
    id: row.id,
    object: 'event' as const,
    type: row.type,
    created: row.created_at.toISOString(),
    tenant: tenantPublicId,
    data: { object: row.data.object },
    request: { id: row.request_id, idempotency_key: row.idempotency_key },
  }
}

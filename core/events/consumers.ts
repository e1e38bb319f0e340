import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { openValues } from '../privacy/sealing'

/**
 * Consumers of domain events. A module exports its consumer (`defineEventConsumer`); nothing is
 * registered by importing it: the worker's registry (core/jobs/registry.ts) lists the consumers it
 * runs, in order.
 *
 * The dispatcher (core/events/dispatch.ts) hands a consumer a batch of one tenant's events, in one
 * tenant transaction that first claims `(tenant_id, consumer, event_id)` in `consumed_events` for
 * the batch (one statement): a redelivered or duplicated job finds the rows and skips those events,
 * so a consumer's effect happens exactly once as long as it writes only through `trx`. A consumer
 * that throws rolls back its effect for the batch; the events are then retried one by one, and the
 * dispatch job is retried for those that still fail; consumers that already succeeded are not run
 * again.
 *
 * `interest` says which event types a consumer wants from a tenant right now (e.g. the types its
 * webhook endpoints subscribe to); the relay settles the events no consumer wants in SQL, without
 * handing them to the queue, and a dispatch job hands each consumer only the events of the types
 * it wants. Leave it out to get every event.
 *
 *   export const webhookConsumer = defineEventConsumer({
 *     name: 'webhooks',
 *     interest: (trx, tenantId) => subscribedTypes(trx, tenantId),
 *     consume: (trx, ctx, events) => createDeliveries(trx, ctx.tenantId, events), // one statement per batch
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

/** Event types wanted: every type, or a list (empty: none). */
export type EventInterest = 'all' | readonly string[]

export interface EventConsumer {
  /** Stable name: the dedupe key (renaming it re-runs old events). */
  name: string
  /** Which event types of this tenant the consumer wants now (read in a tenant transaction); default all. */
  interest?(trx: Trx, tenantId: string): Promise<EventInterest>
  /** Consumes a batch of one tenant's events (in created_at order), claimed for it in `trx`. */
  consume(trx: Trx, ctx: RequestContext, events: EventRow[]): Promise<void>
}

const NAME_RE = /^[a-z][a-z0-9_.-]{0,62}$/

/** Validates a consumer definition (registered nowhere). */
export function defineEventConsumer(c: EventConsumer): EventConsumer {
  if (!NAME_RE.test(c.name)) throw new Error(`defineEventConsumer: invalid name '${c.name}'`)
  return c
}

/** Refuses a list that names a consumer twice. */
export function checkConsumers(consumers: readonly EventConsumer[]): readonly EventConsumer[] {
  const names = new Set<string>()
  for (const c of consumers) {
    if (names.has(c.name)) throw new Error(`event consumer '${c.name}' is already registered`)
    names.add(c.name)
  }
  return consumers
}

/** The union of what the consumers want from a tenant now. */
export async function consumersInterest(trx: Trx, tenantId: string, consumers: readonly EventConsumer[]): Promise<EventInterest> {
  const types = new Set<string>()
  for (const c of consumers) {
    if (!c.interest) return 'all'
    const wanted = await c.interest(trx, tenantId)
    if (wanted === 'all') return 'all'
    for (const t of wanted) types.add(t)
  }
  return [...types]
}

/**
 * Events as stored, with the customers' personal data opened (core/privacy/sealing.ts): what the
 * events API, consumers and webhook deliveries see. One key lookup for the set, none when nothing
 * is sealed; a destroyed key opens to nulls.
 */
export async function openEvents<R extends EventRow>(trx: Trx, tenantId: string, rows: R[]): Promise<R[]> {
  const objects = await openValues(trx, tenantId, rows.map((r) => r.data.object))
  return rows.map((r, i) => (objects[i] === r.data.object ? r : { ...r, data: { ...r.data, object: objects[i] } }))
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

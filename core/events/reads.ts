import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { tenantPublicId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import { archivedEvent } from '../retention/model'
import { EVENT_COLUMNS, eventView, openEvents, type EventRow } from './consumers'

export interface ListEventsQuery extends ListQuery {
  type?: string
}

/**
 * The event as stored. Events carry whole objects (webhook receivers are the merchant's own
 * systems); read through the API, the fields the reader may not view are removed like in any other
 * response (core/http/fields.ts), and a key limited to its own customers sees only their events.
 */
function viewFor(ctx: RequestContext, row: EventRow) {
  return eventView(row, tenantPublicId(ctx.tenantId))
}

export async function listEvents(trx: Trx, ctx: RequestContext, q: ListEventsQuery) {
  const query = trx('events').where({ tenant_id: ctx.tenantId }).select(EVENT_COLUMNS)
  if (q.type) query.where({ type: q.type })
  const { rows, has_more } = await paginate<EventRow>(query, q)
  return page(
    (await openEvents(trx, ctx.tenantId, rows)).map((r) => viewFor(ctx, r)),
    has_more,
  )
}

export async function getEvent(trx: Trx, ctx: RequestContext, id: string) {
  const row: EventRow | undefined = await trx('events').where({ tenant_id: ctx.tenantId, id }).first(EVENT_COLUMNS)
  if (row) return viewFor(ctx, (await openEvents(trx, ctx.tenantId, [row]))[0])
  // Archived by retention: still readable by id, marked so.
  const archived = await archivedEvent<EventRow>(trx, ctx, id, EVENT_COLUMNS)
  if (!archived) throw notFound('event', id)
  return { ...viewFor(ctx, (await openEvents(trx, ctx.tenantId, [archived]))[0]), archived: true }
}

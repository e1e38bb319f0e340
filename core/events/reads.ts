import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { tenantPublicId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'
import { canReadCustomerPii, maskCustomerPii } from '../kernel/permissions'
import { EVENT_COLUMNS, eventView, type EventRow } from './consumers'

export interface ListEventsQuery extends ListQuery {
  type?: string
}

/**
 * The event as this reader may see it. Events carry the full customer object (webhook receivers are
 * the merchant's own systems); the API masks its PII for roles without read_pii, as GET /customers does.
 */
function viewFor(ctx: RequestContext, row: EventRow) {
  const view = eventView(row, tenantPublicId(ctx.tenantId))
  const object = view.data.object as Record<string, unknown> | null
  if (object && typeof object === 'object' && object.object === 'customer' && !canReadCustomerPii(ctx, object as { assigned_to?: string | null })) {
    view.data.object = maskCustomerPii(object)
  }
  return view
}

export async function listEvents(trx: Trx, ctx: RequestContext, q: ListEventsQuery) {
  const query = trx('events').where({ tenant_id: ctx.tenantId }).select(EVENT_COLUMNS)
  if (q.type) query.where({ type: q.type })
  const { rows, has_more } = await paginate<EventRow>(query, q)
  return page(
    rows.map((r) => viewFor(ctx, r)),
    has_more,
  )
}

export async function getEvent(trx: Trx, ctx: RequestContext, id: string) {
  const row: EventRow | undefined = await trx('events').where({ tenant_id: ctx.tenantId, id }).first(EVENT_COLUMNS)
  if (!row) throw notFound('event', id)
  return viewFor(ctx, row)
}

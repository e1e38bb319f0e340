import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { paginate, page } from '../kernel/pagination'
import type { ListQuery } from '../kernel/pagination'
import { generateWebhookSecret } from './signing'
import { urlProblem } from '../kernel/ssrf'
import { MAX_ENDPOINTS, type CreateEndpointInput, type DeliveryStatus, type EndpointStatus, type ListDeliveriesQuery, type UpdateEndpointInput } from './schemas'

/** How long the previous secret keeps signing after a rotation. */
export const ROTATION_OVERLAP_HOURS = 24
/** Attempts embedded in each delivery of the delivery log; the full list is paginated separately. */
const ATTEMPTS_PER_DELIVERY = 10

export interface EndpointRow {
  tenant_id: string
  id: string
  url: string
  events: string[]
  description: string | null
  status: EndpointStatus
  disabled_reason: string | null
  secret: string
  previous_secret: string | null
  previous_secret_expires_at: Date | null
  created_by: string | null
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
}

export interface DeliveryRow {
  tenant_id: string
  id: string
  endpoint_id: string
  event_id: string
  event_type: string
  status: DeliveryStatus
  /** Attempts made so far; also the claim token of the job that makes the next one. */
  attempts: number
  /** `attempts` when the current retry cycle began (a manual redelivery starts a new cycle). */
  cycle_start: number
  next_attempt_at: Date | null
  locked_until: Date | null
  last_status_code: number | null
  last_error: string | null
  delivered_at: Date | null
  created_at: Date
  updated_at: Date
}

export interface AttemptRow {
  tenant_id: string
  id: string
  delivery_id: string
  attempt: number
  status_code: number | null
  duration_ms: number
  error: string | null
  response_excerpt: string | null
  next_attempt_at: Date | null
  created_at: Date
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)

/** The endpoint as the API shows it: never its secrets. */
export function endpointView(row: EndpointRow) {
  const overlap = row.previous_secret_expires_at && row.previous_secret_expires_at > new Date() ? row.previous_secret_expires_at : null
  return {
    id: row.id,
    object: 'webhook_endpoint' as const,
    url: row.url,
    events: row.events,
    description: row.description,
    status: row.status,
    disabled_reason: row.disabled_reason,
    previous_secret_expires_at: iso(overlap),
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  }
}

export function attemptView(row: AttemptRow) {
  return {
    id: row.id,
    object: 'webhook_delivery_attempt' as const,
    delivery: row.delivery_id,
    attempt: row.attempt,
    status_code: row.status_code,
    duration_ms: row.duration_ms,
    error: row.error,
    response_excerpt: row.response_excerpt,
    next_attempt_at: iso(row.next_attempt_at),
    created: row.created_at.toISOString(),
  }
}

export function deliveryView(row: DeliveryRow, attempts: AttemptRow[] = []) {
  return {
    id: row.id,
    object: 'webhook_delivery' as const,
    endpoint: row.endpoint_id,
    event: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempt_count: row.attempts,
    next_attempt_at: iso(row.next_attempt_at),
    last_status_code: row.last_status_code,
    last_error: row.last_error,
    delivered_at: iso(row.delivered_at),
    created: row.created_at.toISOString(),
    attempts: attempts.map(attemptView),
  }
}

/** The URL in canonical form (lowercase scheme and host), or a 400 saying what is wrong with it. */
function checkedUrl(raw: string): string {
  const problem = urlProblem(raw) ?? urlProblem(new URL(raw).href)
  if (problem) throw new AppError('validation_failed', problem, { param: 'url' })
  return new URL(raw).href
}

function assertEvents(events: string[]): void {
  if (events.includes('*') && events.length > 1) throw new AppError('validation_failed', "'*' must be the only entry of events.", { param: 'events' })
}

async function findEndpoint(trx: Trx, ctx: RequestContext, id: string, opts: { forUpdate?: boolean } = {}): Promise<EndpointRow> {
  const q = trx('webhook_endpoints').where({ tenant_id: ctx.tenantId, id }).whereNull('deleted_at')
  if (opts.forUpdate) q.forUpdate()
  const row = await q.first()
  if (!row) throw notFound('webhook endpoint', id)
  return row
}

export async function createEndpoint(trx: Trx, ctx: RequestContext, input: CreateEndpointInput) {
  const url = checkedUrl(input.url)
  assertEvents(input.events)
  // Serializes creations per tenant so concurrent requests cannot pass the limit together.
  await trx.raw('select pg_advisory_xact_lock(hashtextextended(?, 0))', [`webhook_endpoints:${ctx.tenantId}`])
  const { count } = (await trx('webhook_endpoints').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at').count({ count: '*' }).first()) as { count: string }
  if (Number(count) >= MAX_ENDPOINTS) throw new AppError('invalid_state', `A tenant can have at most ${MAX_ENDPOINTS} webhook endpoints.`)
  const secret = generateWebhookSecret()
  const [row] = await trx('webhook_endpoints')
    .insert({
      tenant_id: ctx.tenantId,
      id: newId('we'),
      url,
      events: input.events,
      description: input.description ?? null,
      secret,
      created_by: ctx.keyId ?? ctx.role,
    })
    .returning('*')
  const view = endpointView(row)
  await recordAudit(trx, ctx, { action: 'webhook_endpoint.created', entity_type: 'webhook_endpoint', entity_id: row.id, after: view })
  return { ...view, secret }
}

export async function listEndpoints(trx: Trx, ctx: RequestContext, q: ListQuery) {
  const { rows, has_more } = await paginate<EndpointRow>(trx('webhook_endpoints').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at'), q)
  return page(rows.map(endpointView), has_more)
}

export async function getEndpoint(trx: Trx, ctx: RequestContext, id: string) {
  return endpointView(await findEndpoint(trx, ctx, id))
}

export async function updateEndpoint(trx: Trx, ctx: RequestContext, id: string, input: UpdateEndpointInput) {
  const before = await findEndpoint(trx, ctx, id, { forUpdate: true })
  if (input.events !== undefined) assertEvents(input.events)
  const changes: Partial<EndpointRow> = {}
  if (input.url !== undefined) changes.url = checkedUrl(input.url)
  if (input.events !== undefined) changes.events = input.events
  if (input.description !== undefined) changes.description = input.description
  if (input.status !== undefined && input.status !== before.status) {
    changes.status = input.status
    changes.disabled_reason = input.status === 'disabled' ? `disabled by ${ctx.keyId ?? ctx.role}` : null
  }
  const [after] = await trx('webhook_endpoints')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ ...changes, updated_at: trx.fn.now() })
    .returning('*')
  await recordAudit(trx, ctx, { action: 'webhook_endpoint.updated', entity_type: 'webhook_endpoint', entity_id: id, before: endpointView(before), after: endpointView(after) })
  return endpointView(after)
}

/**
 * Soft delete: the row stays so its delivery log keeps its endpoint; pending deliveries to it are
 * dropped by the delivery job, which only sends to live, enabled endpoints.
 */
export async function deleteEndpoint(trx: Trx, ctx: RequestContext, id: string) {
  const before = await findEndpoint(trx, ctx, id, { forUpdate: true })
  await trx('webhook_endpoints')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ deleted_at: trx.fn.now(), status: 'disabled', disabled_reason: 'deleted', previous_secret: null, previous_secret_expires_at: null, updated_at: trx.fn.now() })
  await recordAudit(trx, ctx, { action: 'webhook_endpoint.deleted', entity_type: 'webhook_endpoint', entity_id: id, before: endpointView(before) })
  return { id, object: 'webhook_endpoint' as const, deleted: true }
}

/**
 * New signing secret; the current one becomes the previous secret and keeps signing (as a second
 * signature) for ROTATION_OVERLAP_HOURS, so receivers can switch without missing a delivery. A
 * secret still in its overlap from an earlier rotation is dropped: at most two sign at once.
 */
export async function rotateSecret(trx: Trx, ctx: RequestContext, id: string) {
  const before = await findEndpoint(trx, ctx, id, { forUpdate: true })
  const secret = generateWebhookSecret()
  const [after] = await trx('webhook_endpoints')
    .where({ tenant_id: ctx.tenantId, id })
    .update({
      secret,
      previous_secret: before.secret,
      previous_secret_expires_at: trx.raw(`now() + make_interval(hours => ?)`, [ROTATION_OVERLAP_HOURS]),
      updated_at: trx.fn.now(),
    })
    .returning('*')
  const view = endpointView(after)
  await recordAudit(trx, ctx, { action: 'webhook_endpoint.secret_rotated', entity_type: 'webhook_endpoint', entity_id: id, before: endpointView(before), after: view })
  return { ...view, secret }
}

/** The newest attempts of each delivery, newest first. */
async function recentAttempts(trx: Trx, ctx: RequestContext, deliveryIds: string[]): Promise<Map<string, AttemptRow[]>> {
  const byDelivery = new Map<string, AttemptRow[]>()
  if (deliveryIds.length === 0) return byDelivery
  const { rows } = await trx.raw(
    `select * from (
       select a.*, row_number() over (partition by a.delivery_id order by a.attempt desc) as rn
         from webhook_delivery_attempts a where a.tenant_id = ? and a.delivery_id = any (?)
     ) x where rn <= ? order by delivery_id, attempt desc`,
    [ctx.tenantId, deliveryIds, ATTEMPTS_PER_DELIVERY],
  )
  for (const r of rows as AttemptRow[]) {
    const list = byDelivery.get(r.delivery_id) ?? []
    list.push(r)
    byDelivery.set(r.delivery_id, list)
  }
  return byDelivery
}

/** The delivery log of one endpoint, newest first, each delivery with its latest attempts. */
export async function listDeliveries(trx: Trx, ctx: RequestContext, endpointId: string, q: ListDeliveriesQuery) {
  await findEndpoint(trx, ctx, endpointId)
  const query = trx('webhook_deliveries').where({ tenant_id: ctx.tenantId, endpoint_id: endpointId })
  if (q.status) query.where({ status: q.status })
  if (q.event) query.where({ event_id: q.event })
  const { rows, has_more } = await paginate<DeliveryRow>(query, q)
  const attempts = await recentAttempts(
    trx,
    ctx,
    rows.map((r) => r.id),
  )
  return page(
    rows.map((r) => deliveryView(r, attempts.get(r.id))),
    has_more,
  )
}

export async function listAttempts(trx: Trx, ctx: RequestContext, endpointId: string, deliveryId: string, q: ListQuery) {
  await findEndpoint(trx, ctx, endpointId)
  const delivery = await trx('webhook_deliveries').where({ tenant_id: ctx.tenantId, id: deliveryId, endpoint_id: endpointId }).first('id')
  if (!delivery) throw notFound('webhook delivery', deliveryId)
  const { rows, has_more } = await paginate<AttemptRow>(trx('webhook_delivery_attempts').where({ tenant_id: ctx.tenantId, delivery_id: deliveryId }), q)
  return page(rows.map(attemptView), has_more)
}

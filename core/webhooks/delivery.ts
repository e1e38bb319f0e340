import { randomInt } from 'node:crypto'
import type { Db, Trx } from '../db/knex'
import { afterCommit, withTenant } from '../db/tenant'
import type { RequestContext } from '../http/context'
import { systemContext } from '../http/context'
import { AppError, notFound } from '../errors'
import { newId, tenantPublicId } from '../ids'
import { recordAudit } from '../audit/service'
import { page } from '../http/pagination'
import { abilityFor } from '../../tenants/roles'
import { defineEventConsumer, EVENT_COLUMNS, eventView, type EventConsumer, type EventRow } from '../events/consumers'
import { defineJob, enqueue, enqueueMany, type JobContext, type JobDefinition } from '../jobs/queues'
import { defineTenantSweep, type TenantSweep } from '../jobs/sweeps'
import { webhookDeliveries } from '../ops/metrics'
import { signedHeaders } from './signing'
import { guardedPost, type PostOutcome } from './ssrf'
import { deliveryView, endpointView, type DeliveryRow, type EndpointRow } from './service'

/**
 * Webhook delivery. The `webhooks` event consumer turns each event into one delivery row per
 * subscribed endpoint; the `webhook-delivery` job makes one attempt, records it, and schedules the
 * next. The deliveries table, not Redis, says what is still owed: every job only claims the attempt
 * the row expects (`attempts` = the job's `attempt`), so duplicated, stale or swept jobs cannot send
 * twice, and the sweeper re-enqueues due deliveries whose job was lost.
 *
 * Nothing here registers itself or keeps settings in module state: `webhookDelivery(settings)`
 * returns the consumer, the job and the sweep built on those settings, and the worker's registry
 * (core/jobs/registry.ts) lists them.
 */

export const DELIVERY_JOB = 'webhook-delivery'

const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE

export interface DeliverySettings {
  /** Delay before each retry (the first attempt is immediate); attempts = length + 1. */
  retryScheduleMs: number[]
  /** Whole attempt: connect, send, response. */
  timeoutMs: number
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS: lifts the address check (development, tests). */
  allowPrivateTargets: boolean
  /** A due delivery whose job has not run this long after its time is re-enqueued by the sweeper. */
  sweepGraceMs: number
}

/** ≈ 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts, the last about 28 h after the first. */
export const DEFAULT_RETRY_SCHEDULE_MS = [5 * SECOND, 5 * MINUTE, 30 * MINUTE, 2 * HOUR, 5 * HOUR, 10 * HOUR, 10 * HOUR]
/** Retry-After beyond this is clamped, so one answer cannot park a delivery for weeks. */
const MAX_RETRY_AFTER_MS = 24 * HOUR
const RESPONSE_EXCERPT_BYTES = 1024
const MAX_SCHEDULE_LENGTH = 20
const SWEEP_BATCH = 200

export const DEFAULT_DELIVERY_SETTINGS: Readonly<DeliverySettings> = Object.freeze({
  retryScheduleMs: DEFAULT_RETRY_SCHEDULE_MS,
  timeoutMs: 10 * SECOND,
  allowPrivateTargets: false,
  sweepGraceMs: 2 * MINUTE,
})

/** Delivery settings: the defaults with `change` applied, validated. The worker passes its config's; tests shorten the schedule. */
export function deliverySettings(change: Partial<DeliverySettings> = {}): DeliverySettings {
  const next = { ...DEFAULT_DELIVERY_SETTINGS, ...change }
  if (next.retryScheduleMs.length > MAX_SCHEDULE_LENGTH || next.retryScheduleMs.some((ms) => !(ms >= 0))) throw new Error('invalid webhook retry schedule')
  if (!(next.timeoutMs > 0 && next.timeoutMs <= 60 * SECOND)) throw new Error('webhook timeoutMs must be 1..60000')
  return next
}

/** The claim on a delivery outlives the attempt (timeout) by this margin; then it can be retaken. */
const leaseMs = (settings: DeliverySettings) => settings.timeoutMs + MINUTE

function jitter(ms: number): number {
  return Math.round(ms * (0.9 + randomInt(0, 201) / 1000)) // ±10 %
}

/** Retry-After as delay seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value
  if (!v) return null
  if (/^\s*\d+\s*$/.test(v)) return Math.min(Number(v) * SECOND, MAX_RETRY_AFTER_MS)
  const at = Date.parse(v)
  if (Number.isNaN(at)) return null
  return Math.min(Math.max(0, at - now), MAX_RETRY_AFTER_MS)
}

function jobCtx(tenantId: string, requestId: string): RequestContext {
  return systemContext(tenantId, abilityFor('admin', 'system'), requestId)
}

/** Enqueues the job for a delivery's next attempt; a lost enqueue is recovered by the sweeper. */
async function schedule(tenantId: string, deliveryId: string, attempt: number, delayMs: number, jobId?: string): Promise<void> {
  await enqueue(DELIVERY_JOB, tenantId, { deliveryId, attempt }, { jobId: jobId ?? `${deliveryId}-${attempt}`, delayMs })
}

// ---- fan-out: event → deliveries --------------------------------------------------------------

/** Pending delivery rows, due now, of `event` to each endpoint. */
function newDeliveries(trx: Trx, ctx: RequestContext, endpoints: { id: string }[], event: { id: string; type: string }) {
  return endpoints.map((e) => ({
    tenant_id: ctx.tenantId,
    id: newId('whd'),
    endpoint_id: e.id,
    event_id: event.id,
    event_type: event.type,
    next_attempt_at: trx.fn.now(),
  }))
}

/** The tenant's enabled endpoints and the event types they subscribe to. */
async function enabledEndpoints(trx: Trx, tenantId: string): Promise<{ id: string; events: string[] }[]> {
  return trx('webhook_endpoints').where({ tenant_id: tenantId, status: 'enabled' }).whereNull('deleted_at').orderBy('id').select('id', 'events')
}

/** The event types the tenant's enabled endpoints subscribe to ('all' when one takes every type). */
export async function subscribedTypes(trx: Trx, tenantId: string): Promise<'all' | string[]> {
  const { rows } = await trx.raw(
    `select distinct unnest(events) as type from webhook_endpoints where tenant_id = ? and status = 'enabled' and deleted_at is null`,
    [tenantId],
  )
  const types = rows.map((r: { type: string }) => r.type)
  return types.includes('*') ? 'all' : types
}

/**
 * One pending delivery per enabled endpoint subscribed to each event (once: unique per endpoint and
 * event), for a whole batch of one tenant's events in one insert; the first attempts are enqueued
 * after commit in one round trip (a lost enqueue is recovered by the sweeper).
 */
export async function createDeliveries(trx: Trx, tenantId: string, events: Pick<EventRow, 'id' | 'type'>[]): Promise<{ id: string; attempts: number }[]> {
  if (!events.length) return []
  const endpoints = await enabledEndpoints(trx, tenantId)
  const rows: { id: string; endpoint_id: string; event_id: string; event_type: string }[] = []
  for (const event of events) {
    for (const e of endpoints) {
      if (e.events.includes('*') || e.events.includes(event.type)) rows.push({ id: newId('whd'), endpoint_id: e.id, event_id: event.id, event_type: event.type })
    }
  }
  if (!rows.length) return []
  const { rows: created }: { rows: { id: string; attempts: number }[] } = await trx.raw(
    `insert into webhook_deliveries (tenant_id, id, endpoint_id, event_id, event_type, next_attempt_at)
     select ?, d.id, d.endpoint_id, d.event_id, d.event_type, now()
       from json_to_recordset(?::json) as d(id text, endpoint_id text, event_id text, event_type text)
     on conflict (tenant_id, endpoint_id, event_id) do nothing
     returning id, attempts`,
    [tenantId, JSON.stringify(rows)],
  )
  if (created.length) {
    afterCommit(trx, () =>
      enqueueMany(DELIVERY_JOB, created.map((d) => ({ tenantId, data: { deliveryId: d.id, attempt: d.attempts }, jobId: `${d.id}-${d.attempts}` }))).catch(() => undefined),
    )
  }
  return created
}

/** The `webhooks` event consumer: deliveries for a batch of events (one statement). */
export const webhookConsumer: EventConsumer = defineEventConsumer({
  name: 'webhooks',
  interest: subscribedTypes,
  consume: async (trx, ctx, events) => void (await createDeliveries(trx, ctx.tenantId, events)),
})

// ---- manual redelivery ------------------------------------------------------------------------

/**
 * Sends an event again, now, to every enabled endpoint subscribed to it (or to the one named). A
 * delivery that already exists starts a new retry cycle; the webhook-id stays the event id.
 */
export async function redeliverEvent(trx: Trx, ctx: RequestContext, eventId: string, endpointId?: string) {
  const event = await trx('events').where({ tenant_id: ctx.tenantId, id: eventId }).first('id', 'type')
  if (!event) throw notFound('event', eventId)
  const q = trx('webhook_endpoints').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at')
  if (endpointId) q.where({ id: endpointId })
  else q.where({ status: 'enabled' }).whereRaw('events && ?::text[]', [['*', event.type]])
  const endpoints: EndpointRow[] = await q.select('*')
  if (endpointId) {
    const e = endpoints[0]
    if (!e) throw notFound('webhook endpoint', endpointId, 'endpoint')
    if (e.status !== 'enabled') throw new AppError('invalid_state', 'The webhook endpoint is disabled; enable it first.', { param: 'endpoint' })
    if (!e.events.includes('*') && !e.events.includes(event.type)) {
      throw new AppError('invalid_state', `The webhook endpoint does not subscribe to ${event.type}.`, { param: 'endpoint' })
    }
  }
  if (!endpoints.length) return page([], false)
  const rows: DeliveryRow[] = await trx('webhook_deliveries')
    .insert(
      newDeliveries(trx, ctx, endpoints, event),
    )
    .onConflict(['tenant_id', 'endpoint_id', 'event_id'])
    .merge({
      status: 'pending',
      next_attempt_at: trx.fn.now(),
      cycle_start: trx.raw('webhook_deliveries.attempts'),
      delivered_at: null,
      updated_at: trx.fn.now(),
    })
    .returning('*')
  await recordAudit(trx, ctx, {
    action: 'event.redelivered',
    entity_type: 'event',
    entity_id: event.id,
    after: { deliveries: rows.map((r) => ({ id: r.id, endpoint: r.endpoint_id })) },
  })
  // Fresh job ids: a delayed job for the same attempt may still sit in Redis.
  afterCommit(trx, async () => {
    for (const d of rows) await schedule(ctx.tenantId, d.id, d.attempts, 0, `${d.id}-${d.attempts}-r${Date.now()}`).catch(() => undefined)
  })
  return page(
    rows.map((r) => deliveryView(r)),
    false,
  )
}

// ---- one attempt ------------------------------------------------------------------------------

interface Claimed {
  delivery: DeliveryRow
  endpoint: EndpointRow
  event: EventRow
}

/**
 * Takes the lease on attempt `attempt` of a pending delivery, or returns null when another job has
 * it, the attempt was already made, or the delivery is finished. A delivery whose endpoint was
 * deleted or disabled since is closed here without sending.
 */
async function claim(trx: Trx, tenantId: string, deliveryId: string, attempt: number, settings: DeliverySettings): Promise<Claimed | null> {
  const [delivery]: DeliveryRow[] = await trx('webhook_deliveries')
    .where({ tenant_id: tenantId, id: deliveryId, status: 'pending', attempts: attempt })
    .where((w) => w.whereNull('locked_until').orWhere('locked_until', '<', trx.fn.now()))
    .update({ locked_until: trx.raw(`now() + make_interval(secs => ?)`, [leaseMs(settings) / SECOND]), updated_at: trx.fn.now() })
    .returning('*')
  if (!delivery) return null
  const endpoint: EndpointRow | undefined = await trx('webhook_endpoints').where({ tenant_id: tenantId, id: delivery.endpoint_id }).first()
  if (!endpoint || endpoint.deleted_at || endpoint.status !== 'enabled') {
    await trx('webhook_deliveries')
      .where({ tenant_id: tenantId, id: deliveryId })
      .update({
        status: 'failed',
        next_attempt_at: null,
        locked_until: null,
        last_error: endpoint?.deleted_at ? 'endpoint deleted' : 'endpoint disabled',
        updated_at: trx.fn.now(),
      })
    return null
  }
  const event: EventRow = await trx('events').where({ tenant_id: tenantId, id: delivery.event_id }).first(EVENT_COLUMNS)
  return { delivery, endpoint, event }
}

type Verdict =
  | { status: 'delivered' }
  | { status: 'pending'; delayMs: number }
  | { status: 'failed'; disableEndpoint: boolean }

/** What one attempt's outcome means for the delivery. */
export function judge(outcome: PostOutcome, attemptsInCycle: number, schedule: number[], now = Date.now()): Verdict {
  if (outcome.kind === 'response' && outcome.status >= 200 && outcome.status < 300) return { status: 'delivered' }
  if (outcome.kind === 'response' && outcome.status === 410) return { status: 'failed', disableEndpoint: true }
  if (attemptsInCycle > schedule.length) return { status: 'failed', disableEndpoint: false }
  const retryAfter = outcome.kind === 'response' && outcome.status === 429 ? parseRetryAfter(outcome.headers['retry-after'], now) : null
  // Retry-After is a floor: jitter only ever adds to it.
  const delayMs = retryAfter !== null ? retryAfter + randomInt(0, Math.max(1, Math.round(retryAfter / 10))) : jitter(schedule[attemptsInCycle - 1])
  return { status: 'pending', delayMs }
}

/** Receiver-controlled text as it may be stored: PostgreSQL text refuses NUL, and the column is bounded. */
const storable = (s: string, max: number) => s.replace(/\u0000/g, '').slice(0, max)

function describe(outcome: PostOutcome): { statusCode: number | null; error: string | null; excerpt: string | null } {
  if (outcome.kind === 'error') return { statusCode: null, error: storable(`${outcome.code}: ${outcome.message}`, 1000), excerpt: null }
  const ok = outcome.status >= 200 && outcome.status < 300
  const error = ok ? null : outcome.status >= 300 && outcome.status < 400 ? `redirect (${outcome.status}) not followed` : `HTTP ${outcome.status}`
  return { statusCode: outcome.status, error, excerpt: storable(outcome.body, RESPONSE_EXCERPT_BYTES) || null }
}

export interface AttemptResult {
  deliveryId: string
  attempt: number
  status: DeliveryRow['status'] | 'skipped'
  statusCode?: number | null
  error?: string | null
}

/**
 * Makes attempt number `attempt + 1` of a delivery: claim (short transaction), sign and POST (no
 * transaction held open across the network), record the attempt and the verdict (second
 * transaction), then schedule the next attempt after commit.
 */
export async function deliverAttempt(
  db: Db,
  tenantId: string,
  deliveryId: string,
  attempt: number,
  settings: DeliverySettings = DEFAULT_DELIVERY_SETTINGS,
  requestId = 'job',
): Promise<AttemptResult> {
  const claimed = await withTenant(db, tenantId, (trx) => claim(trx, tenantId, deliveryId, attempt, settings))
  if (!claimed) return { deliveryId, attempt, status: 'skipped' }
  const { delivery, endpoint, event } = claimed

  const body = JSON.stringify(eventView(event, tenantPublicId(tenantId)))
  const secrets = [endpoint.secret]
  if (endpoint.previous_secret && endpoint.previous_secret_expires_at && endpoint.previous_secret_expires_at > new Date()) secrets.push(endpoint.previous_secret)
  const headers = {
    ...signedHeaders(secrets, event.id, Math.floor(Date.now() / SECOND), body),
    'content-type': 'application/json',
    'user-agent': 'Receivables-Webhooks/1',
  }
  const outcome = await guardedPost(endpoint.url, headers, body, {
    allowPrivateTargets: settings.allowPrivateTargets,
    timeoutMs: settings.timeoutMs,
    maxResponseBytes: RESPONSE_EXCERPT_BYTES,
  })

  const made = attempt + 1
  const verdict = judge(outcome, made - delivery.cycle_start, settings.retryScheduleMs)
  const { statusCode, error, excerpt } = describe(outcome)
  const nextAt = verdict.status === 'pending' ? new Date(Date.now() + verdict.delayMs) : null

  const recorded = await withTenant(db, tenantId, async (trx) => {
    const updated = await trx('webhook_deliveries')
      .where({ tenant_id: tenantId, id: deliveryId, attempts: attempt })
      .update({
        attempts: made,
        status: verdict.status,
        next_attempt_at: nextAt,
        locked_until: null,
        last_status_code: statusCode,
        last_error: error,
        delivered_at: verdict.status === 'delivered' ? trx.fn.now() : null,
        updated_at: trx.fn.now(),
      })
    if (updated === 0) return false // the lease expired and another job made this attempt
    await trx('webhook_delivery_attempts').insert({
      tenant_id: tenantId,
      id: newId('wha'),
      delivery_id: deliveryId,
      attempt: made,
      status_code: statusCode,
      duration_ms: outcome.durationMs,
      error,
      response_excerpt: excerpt,
      next_attempt_at: nextAt,
    })
    if (verdict.status === 'failed' && verdict.disableEndpoint) {
      const [after] = await trx('webhook_endpoints')
        .where({ tenant_id: tenantId, id: endpoint.id, status: 'enabled' })
        .update({ status: 'disabled', disabled_reason: `the receiver answered 410 Gone (event ${event.id})`, updated_at: trx.fn.now() })
        .returning('*')
      if (after) {
        await recordAudit(trx, jobCtx(tenantId, requestId), {
          action: 'webhook_endpoint.disabled',
          entity_type: 'webhook_endpoint',
          entity_id: endpoint.id,
          before: endpointView(endpoint),
          after: endpointView(after),
          reason: 'receiver answered 410 Gone',
        })
      }
    }
    if (verdict.status === 'pending') afterCommit(trx, () => schedule(tenantId, deliveryId, made, verdict.delayMs).catch(() => undefined))
    return true
  })
  if (!recorded) return { deliveryId, attempt, status: 'skipped' }
  webhookDeliveries.inc({ outcome: verdict.status === 'delivered' ? 'success' : 'failure' })
  return { deliveryId, attempt, status: verdict.status, statusCode, error }
}

// ---- sweeper ----------------------------------------------------------------------------------

/** Re-enqueues one tenant's due deliveries whose job has not run (lost with Redis, or dead-lettered). */
export async function sweepTenant(db: Db, tenantId: string, settings: DeliverySettings = DEFAULT_DELIVERY_SETTINGS): Promise<number> {
  const due: Pick<DeliveryRow, 'id' | 'attempts'>[] = await withTenant(db, tenantId, (trx) =>
    trx('webhook_deliveries')
      .where({ tenant_id: tenantId, status: 'pending' })
      .where('next_attempt_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [settings.sweepGraceMs / SECOND]))
      .where((w) => w.whereNull('locked_until').orWhere('locked_until', '<', trx.fn.now()))
      .orderBy('next_attempt_at')
      .limit(SWEEP_BATCH)
      .select('id', 'attempts'),
  )
  // One job id per sweep window: repeated sweeps dedupe, yet a later window can retry a stuck one.
  const window = Math.floor(Date.now() / Math.max(settings.sweepGraceMs, SECOND))
  for (const d of due) await schedule(tenantId, d.id, d.attempts, 0, `${d.id}-${d.attempts}-s${window}`)
  return due.length
}

// ---- what the worker runs ----------------------------------------------------------------------

export interface WebhookDelivery {
  settings: DeliverySettings
  /** Turns events into delivery rows. */
  consumer: EventConsumer
  /** One attempt of one delivery. */
  job: JobDefinition
  /** Re-enqueues due deliveries whose job was lost (every worker runs it; the window job id dedupes them). */
  sweep: TenantSweep
}

/** The consumer, job and sweep of webhook delivery, on these settings (e.g. WEBHOOK_ALLOW_PRIVATE_TARGETS from the config). */
export function webhookDelivery(change: Partial<DeliverySettings> = {}): WebhookDelivery {
  const settings = deliverySettings(change)
  return {
    settings,
    consumer: webhookConsumer,
    job: defineJob<{ deliveryId: string; attempt: number }>(
      DELIVERY_JOB,
      async (data, job: JobContext) => deliverAttempt(job.db, job.tenantId, data.deliveryId, data.attempt, settings, `job:${job.jobId}`),
      // Receiver failures are recorded and rescheduled by the job itself; Bull's retries only cover
      // infrastructure errors (database down) before the sweeper takes over.
      { attempts: 3, timeoutMs: 70 * SECOND, concurrency: 16 },
    ),
    sweep: defineTenantSweep({ name: 'webhook-deliveries', everyMs: MINUTE, run: async (db, tenantId) => void (await sweepTenant(db, tenantId, settings)) }),
  }
}

import { randomInt } from 'node:crypto'
import type { Db, Trx } from '../kernel/db/knex'
import { afterCommit, withTenant } from '../kernel/db/tenant'
import type { RequestContext } from '../kernel/context'
import { systemContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId, tenantPublicId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { page } from '../kernel/pagination'
import { builtInAccess } from '../kernel/permissions'
import { defineEventConsumer, EVENT_COLUMNS, eventView, openEvents, type EventConsumer, type EventRow } from '../events/consumers'
import { defineJob, enqueue, enqueueMany, JobOutcomeFailed, type JobContext, type JobDefinition } from '../jobs/queues'
import { defineTenantSweep, type TenantSweep } from '../jobs/sweeps'
import { webhookDeliveries } from '../ops/metrics'
import { signedHeaders } from './signing'
import { guardedPost, keptAliveConnections, type PostConnections, type PostOutcome } from '../kernel/ssrf'
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

/** One delivery's next attempt (a retry, a sweep, a redelivery), or a batch of them (first attempts of a fan-out). */
export interface DeliveryJob {
  deliveryId?: string
  attempt?: number
  deliveries?: { deliveryId: string; attempt: number }[]
}

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
  /**
   * Connections kept alive between attempts (webhookDelivery makes the worker's); without, each
   * attempt opens a connection of its own.
   */
  connections?: PostConnections
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
  return systemContext(tenantId, builtInAccess('admin'), requestId)
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
    // First attempts in batch jobs (the job id: the batch's first delivery, which heads no other batch).
    const batches: { id: string; attempts: number }[][] = []
    for (let i = 0; i < created.length; i += DELIVERY_BATCH) batches.push(created.slice(i, i + DELIVERY_BATCH))
    afterCommit(trx, () =>
      enqueueMany<DeliveryJob>(
        DELIVERY_JOB,
        batches.map((b) =>
          b.length === 1
            ? { tenantId, data: { deliveryId: b[0].id, attempt: b[0].attempts }, jobId: `${b[0].id}-${b[0].attempts}` }
            : { tenantId, data: { deliveries: b.map((d) => ({ deliveryId: d.id, attempt: d.attempts })) }, jobId: `${b[0].id}-${b[0].attempts}-b` },
        ),
      ).catch(() => undefined),
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

/** Deliveries of one job, sent this many at once (one batch job is leased for all its rounds). */
export const DELIVERY_BATCH = 64
const DELIVERY_PARALLEL = 16
const rounds = (n: number) => Math.max(1, Math.ceil(n / DELIVERY_PARALLEL))

/**
 * Takes the lease on the expected attempt of each pending delivery (one statement): it outlives the
 * job's rounds of sends (each bounded by the timeout) by a minute, then it can be retaken; a delivery that
 * another job has, whose attempt was already made, or that is finished is left out. A delivery whose
 * endpoint was deleted or disabled since is closed here without sending.
 */
async function claim(trx: Trx, tenantId: string, items: { deliveryId: string; attempt: number }[], settings: DeliverySettings): Promise<Claimed[]> {
  const lease = (rounds(items.length) * settings.timeoutMs + MINUTE) / SECOND
  const { rows: deliveries }: { rows: DeliveryRow[] } = await trx.raw(
    `update webhook_deliveries d set locked_until = now() + make_interval(secs => ?), updated_at = now()
       from unnest(?::text[], ?::int[]) as c(id, attempts)
      where d.tenant_id = ? and d.id = c.id and d.status = 'pending' and d.attempts = c.attempts
        and (d.locked_until is null or d.locked_until < now())
      returning d.*`,
    [lease, items.map((i) => i.deliveryId), items.map((i) => i.attempt), tenantId],
  )
  if (!deliveries.length) return []
  const endpoints = new Map<string, EndpointRow>(
    (await trx('webhook_endpoints').where({ tenant_id: tenantId }).whereIn('id', [...new Set(deliveries.map((d) => d.endpoint_id))])).map((e: EndpointRow) => [e.id, e]),
  )
  const closed = deliveries.filter((d) => {
    const e = endpoints.get(d.endpoint_id)
    return !e || e.deleted_at || e.status !== 'enabled'
  })
  if (closed.length) {
    await trx.raw(
      `update webhook_deliveries d set status = 'failed', next_attempt_at = null, locked_until = null, last_error = c.error, updated_at = now()
         from unnest(?::text[], ?::text[]) as c(id, error)
        where d.tenant_id = ? and d.id = c.id`,
      [closed.map((d) => d.id), closed.map((d) => (endpoints.get(d.endpoint_id)?.deleted_at ? 'endpoint deleted' : 'endpoint disabled')), tenantId],
    )
  }
  const open = deliveries.filter((d) => !closed.includes(d))
  if (!open.length) return []
  const events = new Map<string, EventRow>(
    (await openEvents(trx, tenantId, await trx('events').where({ tenant_id: tenantId }).whereIn('id', [...new Set(open.map((d) => d.event_id))]).select(EVENT_COLUMNS))).map((e: EventRow) => [e.id, e]),
  )
  return open.map((delivery) => ({ delivery, endpoint: endpoints.get(delivery.endpoint_id)!, event: events.get(delivery.event_id)! }))
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
  return (await deliverAttempts(db, tenantId, [{ deliveryId, attempt }], settings, requestId))[0]
}

/** Runs `fn` over `items`, `parallel` at a time. */
async function pool<T, R>(items: T[], parallel: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(parallel, items.length) }, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await fn(items[i])
      }
    }),
  )
  return out
}

/** One attempt made: what was sent and what came back. */
interface Sent {
  delivery: DeliveryRow
  endpoint: EndpointRow
  event: EventRow
  outcome: PostOutcome
  made: number
  verdict: Verdict
  nextAt: Date | null
  statusCode: number | null
  error: string | null
  excerpt: string | null
}

/**
 * Records attempts in one transaction: one statement moves each delivery whose attempt is still
 * ours (`attempts` unchanged since the claim) and logs the attempt; an endpoint that answered 410 is
 * disabled; the retries are enqueued after commit (one round trip). Returns the deliveries recorded.
 */
async function recordAttempts(db: Db, tenantId: string, sent: Sent[], requestId: string): Promise<Set<string>> {
  return withTenant(db, tenantId, async (trx) => {
    const rows = sent.map((s) => ({
      id: s.delivery.id,
      attempts_before: s.delivery.attempts,
      made: s.made,
      status: s.verdict.status,
      next_attempt_at: s.nextAt?.toISOString() ?? null,
      status_code: s.statusCode,
      error: s.error,
      delivered: s.verdict.status === 'delivered',
      attempt_id: newId('wha'),
      duration_ms: s.outcome.durationMs,
      excerpt: s.excerpt,
    }))
    // One statement: each delivery whose attempt is still ours moves on, and its attempt is logged.
    const { rows: done }: { rows: { delivery_id: string }[] } = await trx.raw(
      `with r as (
         select * from json_to_recordset(?::json) as r(id text, attempts_before int, made int, status text, next_attempt_at timestamptz,
                                                      status_code int, error text, delivered boolean, attempt_id text, duration_ms int, excerpt text)
       ), u as (
         update webhook_deliveries d
            set attempts = r.made, status = r.status, next_attempt_at = r.next_attempt_at, locked_until = null,
                last_status_code = r.status_code, last_error = r.error,
                delivered_at = case when r.delivered then now() end, updated_at = now()
           from r
          where d.tenant_id = ? and d.id = r.id and d.attempts = r.attempts_before
          returning d.id
       )
       insert into webhook_delivery_attempts (tenant_id, id, delivery_id, attempt, status_code, duration_ms, error, response_excerpt, next_attempt_at)
       select ?, r.attempt_id, r.id, r.made, r.status_code, r.duration_ms, r.error, r.excerpt, r.next_attempt_at
         from r join u on u.id = r.id
       returning delivery_id`,
      [JSON.stringify(rows), tenantId, tenantId],
    )
    const ours = new Set(done.map((d) => d.delivery_id)) // the others' leases expired and another job made the attempt
    for (const s of sent) {
      if (!ours.has(s.delivery.id) || !(s.verdict.status === 'failed' && s.verdict.disableEndpoint)) continue
      const [after] = await trx('webhook_endpoints')
        .where({ tenant_id: tenantId, id: s.endpoint.id, status: 'enabled' })
        .update({ status: 'disabled', disabled_reason: `the receiver answered 410 Gone (event ${s.event.id})`, updated_at: trx.fn.now() })
        .returning('*')
      if (after) {
        await recordAudit(trx, jobCtx(tenantId, requestId), {
          action: 'webhook_endpoint.disabled',
          entity_type: 'webhook_endpoint',
          entity_id: s.endpoint.id,
          before: endpointView(s.endpoint),
          after: endpointView(after),
          reason: 'receiver answered 410 Gone',
        })
      }
    }
    const retries = sent.filter((s) => ours.has(s.delivery.id) && s.verdict.status === 'pending')
    if (retries.length) {
      afterCommit(trx, () =>
        enqueueMany(
          DELIVERY_JOB,
          retries.map((s) => ({ tenantId, data: { deliveryId: s.delivery.id, attempt: s.made }, jobId: `${s.delivery.id}-${s.made}`, delayMs: (s.verdict as { delayMs: number }).delayMs })),
        ).catch(() => undefined),
      )
    }
    return ours
  })
}

/**
 * Records outcomes as they arrive instead of when the batch ends, so a worker killed in the middle
 * of a batch has recorded every answer it got (but the last flush's) and none of them is sent
 * again: one flush in flight at a time, and the next flush takes every outcome that arrived
 * meanwhile (one transaction and one statement per flush, as many flushes as the answers' pace
 * calls for). A failed flush leaves its deliveries leased, to be sent again when the lease expires
 * (as before), and `done` throws it once every flush has run.
 */
function outcomeRecorder(record: (sent: Sent[]) => Promise<Set<string>>) {
  let waiting: Sent[] = []
  let flushing: Promise<void> | null = null
  let failure: unknown = null
  const recorded = new Set<string>()
  const flush = () => {
    if (flushing || !waiting.length) return
    const batch = waiting
    waiting = []
    flushing = record(batch)
      .then(
        (done) => done.forEach((id) => recorded.add(id)),
        (err) => void (failure ??= err),
      )
      .finally(() => {
        flushing = null
        flush()
      })
  }
  return {
    add(s: Sent): void {
      waiting.push(s)
      flush()
    },
    /** Once every outcome added is flushed: the deliveries recorded. */
    async done(): Promise<Set<string>> {
      while (flushing) await flushing
      if (failure) throw failure
      return recorded
    },
  }
}

/**
 * The next attempt of several deliveries of one tenant (a batch of first attempts, or one retry):
 * claim them all (one transaction), POST them a few at a time (no transaction open across the
 * network), and record each attempt and verdict as its answer arrives (outcomeRecorder: a flush is
 * one transaction with one statement for the deliveries and their attempt log, and enqueues its
 * retries after commit). Results are in the order of `items`.
 */
export async function deliverAttempts(
  db: Db,
  tenantId: string,
  items: { deliveryId: string; attempt: number }[],
  settings: DeliverySettings = DEFAULT_DELIVERY_SETTINGS,
  requestId = 'job',
): Promise<AttemptResult[]> {
  const skipped = (i: { deliveryId: string; attempt: number }): AttemptResult => ({ deliveryId: i.deliveryId, attempt: i.attempt, status: 'skipped' })
  if (!items.length) return []
  const claimed = await withTenant(db, tenantId, (trx) => claim(trx, tenantId, items, settings))
  if (!claimed.length) return items.map(skipped)

  const recorder = outcomeRecorder((batch) => recordAttempts(db, tenantId, batch, requestId))
  const sent = await pool(claimed, DELIVERY_PARALLEL, async ({ delivery, endpoint, event }): Promise<Sent> => {
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
      connections: settings.connections,
    })
    const made = delivery.attempts + 1
    const verdict = judge(outcome, made - delivery.cycle_start, settings.retryScheduleMs)
    const nextAt = verdict.status === 'pending' ? new Date(Date.now() + verdict.delayMs) : null
    const s: Sent = { delivery, endpoint, event, outcome, made, verdict, nextAt, ...describe(outcome) }
    recorder.add(s)
    return s
  })
  const recorded = await recorder.done()

  const results = new Map<string, AttemptResult>()
  for (const s of sent) {
    if (!recorded.has(s.delivery.id)) continue
    webhookDeliveries.inc({ outcome: s.verdict.status === 'delivered' ? 'success' : 'failure' })
    results.set(s.delivery.id, { deliveryId: s.delivery.id, attempt: s.delivery.attempts, status: s.verdict.status, statusCode: s.statusCode, error: s.error })
  }
  return items.map((i) => results.get(i.deliveryId) ?? skipped(i))
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

// ---- an operator's retry -----------------------------------------------------------------------

/**
 * A platform operator's retry of a dead-lettered `webhook-delivery` job (JobOptions.retry). Running
 * the job again as it was would send nothing: a job claims only the attempt it was made for, and its
 * deliveries have moved past it (the refused attempt was recorded and the next one scheduled, or the
 * delivery gave up). So the deliveries it carried that are not delivered are attempted now: one that
 * gave up starts a new cycle of attempts (as a redelivery does), one still waiting has its next
 * attempt brought forward. A delivery being attempted (leased), delivered since, or whose endpoint
 * is disabled or deleted is left as it is; when that leaves nothing, the retry is refused (422
 * invalid_state, the dead letter stays). Each delivery retried is audited (webhook_delivery.retried).
 */
export async function retryDeliveries(ctx: RequestContext, db: Db, data: DeliveryJob): Promise<void> {
  const ids = [...new Set([...(data.deliveryId ? [data.deliveryId] : []), ...(data.deliveries ?? []).map((d) => d.deliveryId)])]
  await withTenant(db, ctx.tenantId, async (trx) => {
    const { rows: before }: { rows: DeliveryRow[] } = await trx.raw(
      `select d.* from webhook_deliveries d join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
        where d.tenant_id = ? and d.id = any(?::text[]) and d.status in ('pending', 'failed')
          and (d.locked_until is null or d.locked_until < now()) and e.status = 'enabled' and e.deleted_at is null
        order by d.id
          for update of d`,
      [ctx.tenantId, ids],
    )
    if (!before.length) {
      throw new AppError('invalid_state', 'Nothing to retry: the job’s deliveries were delivered, are being attempted, or their endpoint is disabled or deleted.')
    }
    const { rows: after }: { rows: DeliveryRow[] } = await trx.raw(
      `update webhook_deliveries d
          set status = 'pending', next_attempt_at = now(), updated_at = now(),
              cycle_start = case when d.status = 'failed' then d.attempts else d.cycle_start end
        where d.tenant_id = ? and d.id = any(?::text[])
        returning d.*`,
      [ctx.tenantId, before.map((d) => d.id)],
    )
    const was = new Map(before.map((d) => [d.id, d]))
    for (const d of after) {
      await recordAudit(trx, ctx, {
        action: 'webhook_delivery.retried',
        entity_type: 'webhook_delivery',
        entity_id: d.id,
        before: deliveryView(was.get(d.id)!),
        after: deliveryView(d),
        reason: 'dead-lettered job retried by the platform operator',
      })
    }
    // Fresh job ids: the delayed job of a pending delivery's next attempt may still sit in Redis
    // (whichever runs first makes the attempt; the other finds it made and skips).
    afterCommit(trx, () =>
      enqueueMany(
        DELIVERY_JOB,
        after.map((d) => ({ tenantId: ctx.tenantId, data: { deliveryId: d.id, attempt: d.attempts }, jobId: `${d.id}-${d.attempts}-o${Date.now()}` })),
      ).catch(() => undefined), // the sweeper takes a lost enqueue (the deliveries are due now)
    )
  })
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

/**
 * The consumer, job and sweep of webhook delivery, on these settings (e.g. WEBHOOK_ALLOW_PRIVATE_TARGETS
 * from the config). Its attempts reuse kept-alive connections to the receivers (in `bench:relay`, a
 * connection per attempt made 1,023–1,066 deliveries/s; kept alive, 1,473–1,727).
 */
export function webhookDelivery(change: Partial<DeliverySettings> = {}): WebhookDelivery {
  const settings = deliverySettings({ connections: keptAliveConnections(), ...change })
  return {
    settings,
    consumer: webhookConsumer,
    job: defineJob<DeliveryJob>(
      DELIVERY_JOB,
      async (data, job: JobContext) => {
        const items = data.deliveries ?? (data.deliveryId ? [{ deliveryId: data.deliveryId, attempt: data.attempt ?? 0 }] : [])
        const results = await deliverAttempts(job.db, job.tenantId, items.slice(0, DELIVERY_BATCH), settings, `job:${job.jobId}`)
        // A refused delivery is recorded and rescheduled above; the job itself ends failed, so the
        // queue dashboard shows the failure (Bull does not retry it: see JobOutcomeFailed).
        const refused = results.filter((r) => r.status === 'pending' || r.status === 'failed')
        if (refused.length) {
          throw new JobOutcomeFailed(`webhook delivery refused: ${refused.map((r) => `${r.deliveryId} (${r.error ?? `HTTP ${r.statusCode}`}; ${r.status === 'pending' ? 'will retry' : 'gave up'})`).join(', ')}`)
        }
        return results.length === 1 ? results[0] : { attempted: results.filter((r) => r.status !== 'skipped').length, skipped: results.filter((r) => r.status === 'skipped').length }
      },
      // Receiver failures are recorded and rescheduled by the job itself; Bull's retries only cover
      // infrastructure errors (database down) before the sweeper takes over. A job is leased for
      // all its rounds of sends.
      { attempts: 3, timeoutMs: rounds(DELIVERY_BATCH) * settings.timeoutMs + 30 * SECOND, concurrency: 16, retry: retryDeliveries },
    ),
    sweep: defineTenantSweep({ name: 'webhook-deliveries', everyMs: MINUTE, run: async (db, tenantId) => void (await sweepTenant(db, tenantId, settings)) }),
  }
}

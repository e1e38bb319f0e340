import type { Trx } from '../kernel/db/knex'
import { systemContext } from '../kernel/context'
import { builtInAccess } from '../kernel/permissions'
import { defineJob, withJobTenant, type JobContext, type JobDefinition } from '../jobs/queues'
import { EVENT_COLUMNS, openEvents, type EventConsumer, type EventRow } from './consumers'

/**
 * The `event-dispatch` job (one per batch of one tenant's published events, enqueued by the relay):
 * runs each consumer of the list it was built with, in order, over the batch, each consumer in its
 * own tenant transaction that first claims (tenant_id, consumer, event_id) in consumed_events for
 * the whole batch (one statement), so a duplicated or redelivered job repeats no effect. When every
 * consumer has run, the events are marked dispatched (in the last consumer's transaction), which
 * ends the relay's republishing of them.
 *
 * A consumer that throws on a batch is run again on each of its events alone, so one bad event holds
 * up only itself: the job then fails (and is retried) for the events still failing, and the events
 * that went through are not run again.
 */
export const EVENT_DISPATCH = 'event-dispatch'
/** Events in one dispatch job at most (the relay splits larger batches). */
export const DISPATCH_BATCH_MAX = 500

export interface DispatchJob {
  eventIds?: string[]
  /** Jobs enqueued before batching carried one event. */
  eventId?: string
}

export interface DispatchResult {
  events: number
  dispatched: number
  /** Events already dispatched, or gone. */
  skipped: number
  /** Per consumer: events it ran on in this job (the others were claimed by an earlier run). */
  ran: Record<string, number>
}

export async function dispatchEvents(job: Pick<JobContext, 'tenantId' | 'jobId'> & { db?: JobContext['db'] }, eventIds: string[], consumers: readonly EventConsumer[]): Promise<DispatchResult> {
  const { tenantId } = job
  const ids = [...new Set(eventIds)].slice(0, DISPATCH_BATCH_MAX)
  const result: DispatchResult = { events: ids.length, dispatched: 0, skipped: 0, ran: {} }
  if (!ids.length) return result
  const ctx = systemContext(tenantId, builtInAccess('admin'), `job_${job.jobId}`)
  const markDispatched = async (trx: Trx, events: EventRow[]) => {
    if (!events.length) return
    const { rowCount } = await trx.raw(`update events set dispatched_at = now() where tenant_id = ? and id = any(?::text[]) and dispatched_at is null`, [tenantId, events.map((e) => e.id)])
    result.dispatched += rowCount ?? 0
  }

  let events: EventRow[] = []
  const failures: { event: string; consumer: string; err: unknown }[] = []

  /**
   * One consumer over `batch` in one transaction: claim the events of the types it wants, consume
   * the claimed, mark the whole batch when last.
   */
  const runBatch = async (consumer: EventConsumer, wants: (e: EventRow) => boolean, batch: EventRow[], last: boolean) => {
    const wanted = batch.filter(wants)
    if (!wanted.length && !last) return // nothing to claim or mark: no transaction
    await withJobTenant(job, async (trx) => {
      if (wanted.length) {
        const { rows } = await trx.raw(
          `insert into consumed_events (tenant_id, consumer, event_id)
           select ?, ?, unnest(?::text[]) on conflict do nothing returning event_id`,
          [tenantId, consumer.name, wanted.map((e) => e.id)],
        )
        const claimed = new Set(rows.map((r: { event_id: string }) => r.event_id))
        const mine = wanted.filter((e) => claimed.has(e.id))
        if (mine.length) await consumer.consume(trx, ctx, mine)
        result.ran[consumer.name] = (result.ran[consumer.name] ?? 0) + mine.length
      }
      if (last) await markDispatched(trx, batch)
    })
  }

  // The events still to dispatch, read once (in created_at order), and what each consumer wants of
  // this tenant now (its `interest`): a consumer gets only the events of its types.
  const wants: ((e: EventRow) => boolean)[] = []
  events = await withJobTenant(job, async (trx) => {
    const rows = await trx('events').where({ tenant_id: tenantId }).whereIn('id', ids).whereNull('dispatched_at').orderBy([{ column: 'created_at' }, { column: 'id' }]).select(...EVENT_COLUMNS)
    if (!rows.length) return []
    for (const c of consumers) {
      const interest = c.interest ? await c.interest(trx, tenantId) : 'all'
      const types = interest === 'all' ? null : new Set(interest)
      wants.push(types ? (e) => types.has(e.type) : () => true)
    }
    return openEvents(trx, tenantId, rows)
  })
  result.skipped = ids.length - events.length
  if (!events.length) return result
  if (!consumers.length) {
    await withJobTenant(job, (trx) => markDispatched(trx, events))
    return result
  }
  let batch = events
  for (const [i, consumer] of consumers.entries()) {
    const last = i === consumers.length - 1
    try {
      await runBatch(consumer, wants[i], batch, last)
    } catch (err) {
      if (batch.length === 1) {
        failures.push({ event: batch[0].id, consumer: consumer.name, err })
        batch = []
      } else {
        // One by one: the events that go through move on; the others wait for the job's retry.
        const passed: EventRow[] = []
        for (const event of batch) {
          try {
            await runBatch(consumer, wants[i], [event], last)
            passed.push(event)
          } catch (e) {
            failures.push({ event: event.id, consumer: consumer.name, err: e })
          }
        }
        batch = passed
      }
    }
    if (!batch.length) break
  }
  if (failures.length) {
    const first = failures[0]
    const err = first.err instanceof Error ? first.err : new Error(String(first.err))
    err.message = `consumer '${first.consumer}' failed on ${failures.length} of ${events.length} event(s) (first ${first.event}): ${err.message}`
    throw err
  }
  return result
}

/** The dispatch job over this list of consumers (the worker's registry builds it). */
export function eventDispatchJob(consumers: readonly EventConsumer[]): JobDefinition {
  return defineJob<DispatchJob>(EVENT_DISPATCH, (data, job) => dispatchEvents(job, data.eventIds ?? (data.eventId ? [data.eventId] : []), consumers), {
    attempts: 8,
    concurrency: 16,
    timeoutMs: 60_000,
    backoff: (attemptsMade) => Math.min(500 * 2 ** (attemptsMade - 1), 60_000),
  })
}

import { systemContext } from '../http/context'
import { abilityFor } from '../../tenants/roles'
import { defineJob, withJobTenant, type JobContext } from '../jobs/queues'
import { EVENT_COLUMNS, eventConsumers, type EventRow } from './consumers'

/**
 * The `event-dispatch` job (one per published event, enqueued by the relay): runs every registered
 * consumer, each in its own tenant transaction that first claims (tenant_id, consumer, event_id) in
 * consumed_events, so a duplicated or redelivered job repeats no effect. When all consumers have
 * run, the event is marked dispatched, which ends the relay's republishing of it.
 */
export const EVENT_DISPATCH = 'event-dispatch'

export interface DispatchResult {
  event: string
  ran: string[]
  skipped: string[]
  missing?: true
}

export async function dispatchEvent(job: Pick<JobContext, 'tenantId' | 'jobId'>, eventId: string): Promise<DispatchResult> {
  const { tenantId } = job
  const event: (EventRow & { dispatched_at: Date | null }) | undefined = await withJobTenant(job, (trx) =>
    trx('events').where({ tenant_id: tenantId, id: eventId }).first(...EVENT_COLUMNS, 'dispatched_at'),
  )
  if (!event) return { event: eventId, ran: [], skipped: [], missing: true }
  const result: DispatchResult = { event: eventId, ran: [], skipped: [] }
  if (event.dispatched_at) return result
  const ctx = systemContext(tenantId, abilityFor('admin', 'system'), event.request_id ?? `job_${job.jobId}`)
  for (const [name, consume] of eventConsumers()) {
    const ran = await withJobTenant(job, async (trx) => {
      const { rows } = await trx.raw(
        `insert into consumed_events (tenant_id, consumer, event_id) values (?, ?, ?) on conflict do nothing returning event_id`,
        [tenantId, name, eventId],
      )
      if (!rows.length) return false
      await consume(trx, ctx, event)
      return true
    })
    ;(ran ? result.ran : result.skipped).push(name)
  }
  await withJobTenant(job, (trx) => trx('events').where({ tenant_id: tenantId, id: eventId }).whereNull('dispatched_at').update({ dispatched_at: trx.fn.now() }))
  return result
}

defineJob<{ eventId: string }>(EVENT_DISPATCH, (data, job) => dispatchEvent(job, data.eventId), {
  attempts: 8,
  concurrency: 16,
  timeoutMs: 60_000,
  backoff: (attemptsMade) => Math.min(500 * 2 ** (attemptsMade - 1), 60_000),
})

import type { Trx } from '../kernel/db/knex'
import { systemContext } from '../kernel/context'
import { abilityFor } from '../kernel/permissions'
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
  const result: DispatchResult = { event: eventId, ran: [], skipped: [] }
  const consumers = [...eventConsumers()]
  const ctx = (event: EventRow) => systemContext(tenantId, abilityFor('admin', 'system'), event.request_id ?? `job_${job.jobId}`)
  const markDispatched = (trx: Trx) => trx('events').where({ tenant_id: tenantId, id: eventId }).whereNull('dispatched_at').update({ dispatched_at: trx.fn.now() })
  let event: (EventRow & { dispatched_at: Date | null }) | undefined
  // One transaction per consumer; the event is read in the first and marked dispatched in the last.
  for (let i = 0; i < Math.max(1, consumers.length); i++) {
    const outcome = await withJobTenant(job, async (trx) => {
      event ??= await trx('events').where({ tenant_id: tenantId, id: eventId }).first(...EVENT_COLUMNS, 'dispatched_at')
      if (!event) return 'missing'
      if (event.dispatched_at) return 'dispatched'
      let ran: boolean | null = null
      if (consumers.length) {
        const [name, consume] = consumers[i]
        const { rows } = await trx.raw(`insert into consumed_events (tenant_id, consumer, event_id) values (?, ?, ?) on conflict do nothing returning event_id`, [tenantId, name, eventId])
        ran = rows.length > 0
        if (ran) await consume(trx, ctx(event), event)
      }
      if (i >= consumers.length - 1) await markDispatched(trx)
      return ran
    })
    if (outcome === 'missing') return { ...result, missing: true }
    if (outcome === 'dispatched') return result
    if (outcome !== null) (outcome ? result.ran : result.skipped).push(consumers[i][0])
  }
  return result
}

defineJob<{ eventId: string }>(EVENT_DISPATCH, (data, job) => dispatchEvent(job, data.eventId), {
  attempts: 8,
  concurrency: 16,
  timeoutMs: 60_000,
  backoff: (attemptsMade) => Math.min(500 * 2 ** (attemptsMade - 1), 60_000),
})

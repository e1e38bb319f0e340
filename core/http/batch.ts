import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Db, Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import type { Config } from '../kernel/config'
import { AppError } from '../kernel/errors'
import type { RequestContext } from '../kernel/context'
import { postingMetrics } from '../ops/metrics'
import { answer, Answer, claimIdempotencyKeys, idempotentRequest, IdempotentRequest, storeIdempotentResponses } from './tx'

/**
 * Group posting: concurrent requests of one tenant to the same route run in one transaction.
 *
 * A posting costs a handful of statements and a commit; most of that is per statement and per
 * commit, not per row. Requests that arrive while a tenant's batch is in flight wait for the next
 * one, which then runs them all with one statement per table and one commit (the way Postgres
 * groups commits), so a busy tenant pays per batch what a quiet one pays per request. A request is
 * answered only after its batch has committed, so every acknowledged posting is durable.
 *
 * `run` gets the requests' contexts and bodies and returns, per request, its result or the
 * AppError it answers; refused requests must write nothing (run checks everything before it
 * writes). When the batch fails as a whole (a database error, a race with a period close, a
 * deadlock retried to the end), nothing of it was written and each request runs again alone, so
 * each gets exactly the answer it would have had on its own. Idempotency keys behave as in
 * inTenant: claimed together, replayed or refused per request, stored with the batch.
 */
export type BatchRun<I, O> = (trx: Trx, items: { ctx: RequestContext; input: I }[]) => Promise<(O | AppError)[]>

/** A result answered with its own status instead of the batch's (a posting held for approval: 202). */
export class StatusAnswer<O> {
  constructor(
    readonly status: number,
    readonly body: O,
  ) {}
}

interface Pending<I> {
  ctx: RequestContext
  input: I
  claim: IdempotentRequest | null
  resolve: (a: Answer<unknown>) => void
  reject: (err: unknown) => void
}

interface TenantQueue<I> {
  queue: Pending<I>[]
  running: number
}

export interface BatchOptions<I> {
  /** The document posted (the metrics' label: posting_batch_size). */
  document: string
  /** Status of a new response. */
  status: number
  /**
   * Requests are split by `partition` (e.g. the customer) among POSTING_BATCH_LANES queues per
   * tenant, each with one batch in flight, so concurrent batches do not wait on each other's locks.
   */
  partition: (input: I) => string
}

const SQLSTATE = /^[0-9A-Z]{5}$/

function rolledBack(err: unknown): boolean {
  if (err instanceof AppError) return true
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && SQLSTATE.test(code)
}

function lane(key: string, lanes: number): number {
  let h = 0
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0
  return (h >>> 0) % lanes
}

export function batchedInTenant<I, O>(run: BatchRun<I, O>, opts: BatchOptions<I>) {
  // Per database (one per app instance), per tenant.
  const queues = new WeakMap<Db, Map<string, TenantQueue<I>>>()

  async function runGroup(db: Db, ttlHours: number, tenantId: string, group: Pending<I>[]): Promise<void> {
    let answers: (Answer<unknown> | AppError)[]
    postingMetrics.batchSize.observe({ document: opts.document }, group.length)
    try {
      answers = await withTenant(db, tenantId, async (trx) => {
        const out = await claimIdempotencyKeys(trx, tenantId, group.map((p) => p.claim))
        const fresh = group.flatMap((p, i) => (out[i] === null ? [i] : []))
        const results = fresh.length ? await run(trx, fresh.map((i) => ({ ctx: group[i].ctx, input: group[i].input }))) : []
        const store: { claim: IdempotentRequest; answer: Answer<unknown> }[] = []
        fresh.forEach((i, n) => {
          const r = results[n]
          if (r instanceof AppError) out[i] = r
          else {
            const a = r instanceof StatusAnswer ? { replayed: false, status: r.status, body: r.body } : { replayed: false, status: opts.status, body: r }
            out[i] = a
            if (group[i].claim) store.push({ claim: group[i].claim!, answer: a })
          }
        })
        await storeIdempotentResponses(trx, tenantId, ttlHours, store)
        return out as (Answer<unknown> | AppError)[]
      }, { owners: group[0].ctx.access.owners }) // one row scope per group: the queue key holds it
    } catch (err) {
      // Rerun alone only what surely wrote nothing: an error of ours or one Postgres answered (the
      // transaction rolled back). A lost connection may have lost the answer to a COMMIT that
      // succeeded, so those requests fail as a single one would, and the client retries with its key.
      if (group.length === 1 || !rolledBack(err)) return group.forEach((p) => p.reject(err))
      postingMetrics.fallbacks.inc({ document: opts.document })
      await Promise.all(group.map((p) => runGroup(db, ttlHours, tenantId, [p])))
      return
    }
    group.forEach((p, i) => {
      const a = answers[i]
      if (a instanceof AppError) p.reject(a)
      else p.resolve(a)
    })
  }

  async function drain(
    db: Db,
    config: Config,
    tenantId: string,
    queueKey: string,
    tenants: Map<string, TenantQueue<I>>,
    t: TenantQueue<I>,
  ): Promise<void> {
    try {
      while (t.queue.length) await runGroup(db, config.IDEMPOTENCY_TTL_HOURS, tenantId, t.queue.splice(0, config.POSTING_BATCH_MAX))
    } finally {
      t.running--
      if (!t.running && !t.queue.length && tenants.get(queueKey) === t) tenants.delete(queueKey)
    }
  }

  return async function submit(req: FastifyRequest, reply: FastifyReply, input: I): Promise<O> {
    const claim = idempotentRequest(req)
    const { db, config } = req.server.deps
    const tenantId = req.ctx.tenantId
    // Requests of keys limited to their own customers are grouped per owner set (a transaction has one row scope).
    const owners = req.ctx.access.owners ? req.ctx.access.owners.join(',') : '*'
    const queueKey = `${tenantId}:${owners}:${lane(opts.partition(input), config.POSTING_BATCH_LANES)}`
    let tenants = queues.get(db)
    if (!tenants) queues.set(db, (tenants = new Map()))
    let t = tenants.get(queueKey)
    if (!t) tenants.set(queueKey, (t = { queue: [], running: 0 }))
    // Bounded: a tenant that sends faster than its postings commit is told to come back, instead of
    // queueing without limit in this process's memory. Nothing was claimed or written yet.
    if (t.queue.length >= config.POSTING_QUEUE_MAX) {
      throw new AppError('overloaded', `More than ${config.POSTING_QUEUE_MAX} postings of this tenant are waiting; retry shortly.`)
    }
    const result = new Promise<Answer<unknown>>((resolve, reject) => t!.queue.push({ ctx: req.ctx, input, claim, resolve, reject }))
    if (!t.running) {
      t.running++
      // On the next turn of the event loop, so requests read in this turn join the batch.
      const queue = t
      setImmediate(() => void drain(db, config, tenantId, queueKey, tenants!, queue))
    }
    return answer(reply, (await result) as Answer<O>)
  }
}

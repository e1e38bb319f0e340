import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { withTenant } from '../db/tenant'
import type { Trx } from '../db/knex'
import { AppError } from '../errors'
import type { RequestContext } from './context'

const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

function requestHash(req: FastifyRequest): string {
  return createHash('sha256')
    .update(`${req.method} ${req.url}\n${canonical(req.body ?? null)}`)
    .digest('hex')
}

/**
 * Runs one service call in the request's tenant transaction and sets the status. For a POST with
 * `Idempotency-Key` (Stripe semantics) the key is claimed with a transaction-level advisory lock
 * (a second request while the first is in flight gets 409), a stored response is replayed with
 * `Idempotent-Replayed: true`, a different body gets 422, and a new response is stored in the same
 * transaction as its effect, so one key can never yield two effects. Failed requests store nothing:
 * they wrote nothing, so a retry is safe.
 */
export async function inTenant<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  fn: (trx: Trx, ctx: RequestContext) => Promise<T>,
  opts: { status?: number } = {},
): Promise<T> {
  const ctx = req.ctx
  const status = opts.status ?? 200
  const key = req.method === 'POST' ? ctx.idempotencyKey : null
  const db = req.server.deps.db
  if (key === null) {
    const result = await withTenant(db, ctx.tenantId, (trx) => fn(trx, ctx))
    reply.code(status)
    return result
  }
  if (!IDEMPOTENCY_KEY_RE.test(key)) throw new AppError('invalid_idempotency_key', undefined, { param: 'Idempotency-Key' })
  const hash = requestHash(req)
  const ttlHours = req.server.deps.config.IDEMPOTENCY_TTL_HOURS
  const outcome = await withTenant(db, ctx.tenantId, async (trx) => {
    const { rows } = await trx.raw('select pg_try_advisory_xact_lock(hashtextextended(?, 0)) as ok', [`idem:${ctx.tenantId}:${key}`])
    if (!rows[0].ok) throw new AppError('idempotency_key_in_use')
    const existing = await trx('idempotency_keys')
      .where({ tenant_id: ctx.tenantId, key })
      .first('request_hash', 'status_code', 'response_body', trx.raw('expires_at < now() as expired'))
    if (existing && !existing.expired) {
      if (existing.request_hash !== hash) throw new AppError('idempotency_key_reused', undefined, { param: 'Idempotency-Key' })
      return { replayed: true, status: existing.status_code as number, body: existing.response_body as T }
    }
    if (existing) await trx('idempotency_keys').where({ tenant_id: ctx.tenantId, key }).delete()
    const body = await fn(trx, ctx)
    await trx('idempotency_keys').insert({
      tenant_id: ctx.tenantId,
      key,
      request_hash: hash,
      method: req.method,
      path: req.url.slice(0, 2000),
      status_code: status,
      response_body: JSON.stringify(body ?? null),
      expires_at: trx.raw(`now() + make_interval(hours => ?)`, [ttlHours]),
    })
    return { replayed: false, status, body }
  })
  if (outcome.replayed) reply.header('idempotent-replayed', 'true')
  reply.code(outcome.status)
  return outcome.body
}

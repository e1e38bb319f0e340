import { createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { prepared, type Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { AppError } from '../kernel/errors'
import type { RequestContext } from '../kernel/context'
import { openValues, sealValues } from '../privacy/sealing'

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

/** A POST's Idempotency-Key with what identifies its request (Stripe semantics). */
export interface IdempotentRequest {
  key: string
  hash: string
  method: string
  path: string
}

/** The request's idempotency claim, or null when it carries no key (or is no POST). */
export function idempotentRequest(req: FastifyRequest): IdempotentRequest | null {
  const key = req.method === 'POST' ? req.ctx.idempotencyKey : null
  if (key === null) return null
  if (!IDEMPOTENCY_KEY_RE.test(key)) throw new AppError('invalid_idempotency_key', undefined, { param: 'Idempotency-Key' })
  const hash = createHash('sha256')
    .update(`${req.method} ${req.url}\n${canonical(req.body ?? null)}`)
    .digest('hex')
  return { key, hash, method: req.method, path: req.url.slice(0, 2000) }
}

/** What a request answers: a new or replayed response. */
export interface Answer<T> {
  replayed: boolean
  status: number
  body: T
}

/**
 * Claims the keys of several requests of one tenant in the caller's transaction. Each key is taken
 * with a transaction-level advisory lock (a key in flight elsewhere, or twice in this set, answers
 * 409 `idempotency_key_in_use`); a stored, unexpired response is replayed (422
 * `idempotency_key_reused` for a different body); an expired one is deleted. Returns, per request,
 * null when it is new and must run, else its answer or error.
 */
export async function claimIdempotencyKeys(trx: Trx, tenantId: string, claims: (IdempotentRequest | null)[]): Promise<(Answer<unknown> | AppError | null)[]> {
  const keys = [...new Set(claims.flatMap((c) => (c ? [c.key] : [])))]
  if (!keys.length) return claims.map(() => null)
  const { rows: locks } = await prepared(
    trx,
    `select k as key, pg_try_advisory_xact_lock(hashtextextended('idem:' || ? || ':' || k, 0)) as ok from unnest(?::text[]) k`,
    [tenantId, keys],
  )
  const locked = new Set<string>(locks.filter((r: { ok: boolean }) => r.ok).map((r: { key: string }) => r.key))
  const { rows: stored } = await prepared(
    trx,
    `select key, request_hash, status_code, response_body, expires_at < now() as expired
       from idempotency_keys where tenant_id = ? and key = any(?::text[])`,
    [tenantId, [...locked]],
  )
  // Stored responses hold customers' personal data sealed (core/privacy/sealing.ts): opened here.
  const bodies = await openValues(trx, tenantId, stored.map((r: { response_body: unknown }) => r.response_body))
  stored.forEach((r: { response_body: unknown }, i: number) => (r.response_body = bodies[i]))
  const found = new Map(stored.map((r: { key: string }) => [r.key, r]))
  const expired = stored.filter((r: { expired: boolean }) => r.expired).map((r: { key: string }) => r.key)
  if (expired.length) await prepared(trx, `delete from idempotency_keys where tenant_id = ? and key = any(?::text[])`, [tenantId, expired])
  const seen = new Set<string>()
  return claims.map((c) => {
    if (!c) return null
    if (!locked.has(c.key) || seen.has(c.key)) return new AppError('idempotency_key_in_use')
    seen.add(c.key)
    const existing = found.get(c.key) as { request_hash: string; status_code: number; response_body: unknown; expired: boolean } | undefined
    if (!existing || existing.expired) return null
    if (existing.request_hash !== c.hash) return new AppError('idempotency_key_reused', undefined, { param: 'Idempotency-Key' })
    return { replayed: true, status: existing.status_code, body: existing.response_body }
  })
}

/** Stores new responses under their keys, in the transaction of their effect. */
export async function storeIdempotentResponses(trx: Trx, tenantId: string, ttlHours: number, items: { claim: IdempotentRequest; answer: Answer<unknown> }[]): Promise<void> {
  if (!items.length) return
  const bodies = await sealValues(trx, tenantId, items.map(({ answer }) => answer.body ?? null))
  await prepared(
    trx,
    `insert into idempotency_keys (tenant_id, key, request_hash, method, path, status_code, response_body, expires_at)
     select ?, x.key, x.request_hash, x.method, x.path, x.status_code, x.response_body, now() + make_interval(hours => ?)
       from json_to_recordset(?::json) as x(key text, request_hash text, method text, path text, status_code int, response_body jsonb)`,
    [
      tenantId,
      ttlHours,
      JSON.stringify(
        items.map(({ claim, answer }, i) => ({
          key: claim.key,
          request_hash: claim.hash,
          method: claim.method,
          path: claim.path,
          status_code: answer.status,
          response_body: bodies[i],
        })),
      ),
    ],
  )
}

/** Sends an answer's status (and the replay header). */
export function answer<T>(reply: FastifyReply, a: Answer<T>): T {
  if (a.replayed) reply.header('idempotent-replayed', 'true')
  reply.code(a.status)
  return a.body
}

/**
 * Runs one service call in the request's tenant transaction (with the key's row scope) and sets the status. For a POST with
 * `Idempotency-Key` (Stripe semantics, see claimIdempotencyKeys) a stored response is replayed with
 * `Idempotent-Replayed: true`, and a new response is stored in the same transaction as its effect,
 * so one key can never yield two effects. Failed requests store nothing: they wrote nothing, so a
 * retry is safe.
 */
export async function inTenant<T>(
  req: FastifyRequest,
  reply: FastifyReply,
  fn: (trx: Trx, ctx: RequestContext) => Promise<T>,
  opts: { status?: number } = {},
): Promise<T> {
  const ctx = req.ctx
  const status = opts.status ?? 200
  const claim = idempotentRequest(req)
  const ttlHours = req.server.deps.config.IDEMPOTENCY_TTL_HOURS
  const outcome = await withTenant(req.server.deps.db, ctx.tenantId, async (trx): Promise<Answer<T>> => {
    if (claim) {
      const [prior] = await claimIdempotencyKeys(trx, ctx.tenantId, [claim])
      if (prior instanceof AppError) throw prior
      if (prior) return prior as Answer<T>
    }
    const a = { replayed: false, status, body: await fn(trx, ctx) }
    if (claim) await storeIdempotentResponses(trx, ctx.tenantId, ttlHours, [{ claim, answer: a }])
    return a
  }, { owners: ctx.access.owners })
  return answer(reply, outcome)
}

import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'
import { prepared, type Trx } from '../core/kernel/db/knex'
import { AppError } from '../core/kernel/errors'

/**
 * `Idempotency-Key`s of platform-token routes (POST /v1/tenants), which belong to no tenant: the
 * table platform_idempotency_keys (a declared platform table, visible only in a transaction that
 * called `enterPlatform`). Stripe semantics as for tenant routes (core/http/tx.ts): same key and
 * body replays the first response, a different body is 422 `idempotency_key_reused`, a key in
 * flight is 409 `idempotency_key_in_use`.
 *
 * The first response carries the new tenant's admin API key secret, shown once. A retry whose
 * first answer was lost must still get it (else the tenant is orphaned), so the response is
 * stored, but sealed: AES-256-GCM under a key derived from PLATFORM_ADMIN_TOKEN, bound to the
 * idempotency key and request hash. A database dump reveals no secret; only a holder of the
 * platform token retrying the same request within the key's lifetime can read it. After the token
 * is rotated a stored response can no longer be opened and the key answers 409 (use a new key).
 */

export interface PlatformIdempotency {
  key: string
  /** Hash of method, path and canonical body (idempotentRequest in core/http/tx.ts). */
  hash: string
  method: string
  path: string
  ttlHours: number
  /** PLATFORM_ADMIN_TOKEN: the sealing key is derived from it. */
  token: string
}

export interface PlatformAnswer<T> {
  replayed: boolean
  status: number
  body: T
}

/** Declares the transaction platform work: platform_idempotency_keys becomes visible to it. */
export async function enterPlatform(trx: Trx): Promise<void> {
  await prepared(trx, "select set_config('app.platform', 'on', true)", [])
}

function sealKey(token: string): Buffer {
  return createHmac('sha256', token).update('platform-idempotency:v1').digest()
}

function aad(idem: PlatformIdempotency): Buffer {
  return Buffer.from(`${idem.key}\n${idem.hash}`)
}

export function seal(idem: PlatformIdempotency, body: unknown): string {
  const iv = randomBytes(12)
  const c = createCipheriv('aes-256-gcm', sealKey(idem.token), iv).setAAD(aad(idem))
  const ct = Buffer.concat([c.update(JSON.stringify(body ?? null), 'utf8'), c.final()])
  return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), ct.toString('base64')].join('.')
}

export function unseal(idem: PlatformIdempotency, sealed: string): unknown | undefined {
  const [v, iv, tag, ct] = sealed.split('.')
  if (v !== 'v1' || !iv || !tag || ct === undefined) return undefined
  try {
    const d = createDecipheriv('aes-256-gcm', sealKey(idem.token), Buffer.from(iv, 'base64')).setAAD(aad(idem))
    d.setAuthTag(Buffer.from(tag, 'base64'))
    return JSON.parse(Buffer.concat([d.update(Buffer.from(ct, 'base64')), d.final()]).toString('utf8'))
  } catch {
    return undefined
  }
}

/**
 * Claims the key in the caller's (platform) transaction: a transaction-level advisory lock (held
 * elsewhere: 409), then a stored, unexpired response is replayed (422 for a different request); an
 * expired one is deleted. Null: the request is new and must run.
 */
export async function claimPlatformKey(trx: Trx, idem: PlatformIdempotency): Promise<PlatformAnswer<unknown> | null> {
  await enterPlatform(trx)
  const { rows: locks } = await prepared(trx, `select pg_try_advisory_xact_lock(hashtextextended('platform-idem:' || ?, 0)) as ok`, [idem.key])
  if (!locks[0].ok) throw new AppError('idempotency_key_in_use')
  const { rows } = await prepared(
    trx,
    `select request_hash, status_code, sealed_response, expires_at < now() as expired from platform_idempotency_keys where key = ?`,
    [idem.key],
  )
  const existing = rows[0] as { request_hash: string; status_code: number; sealed_response: string; expired: boolean } | undefined
  if (!existing) return null
  if (existing.expired) {
    await prepared(trx, `delete from platform_idempotency_keys where key = ?`, [idem.key])
    return null
  }
  if (existing.request_hash !== idem.hash) throw new AppError('idempotency_key_reused', undefined, { param: 'Idempotency-Key' })
  const body = unseal(idem, existing.sealed_response)
  if (body === undefined) {
    throw new AppError('idempotency_key_in_use', 'The response stored under this Idempotency-Key can no longer be opened (the platform admin token changed); use a new key.')
  }
  return { replayed: true, status: existing.status_code, body }
}

/** Stores the sealed response under the key, in the transaction of its effect. */
export async function storePlatformResponse(trx: Trx, idem: PlatformIdempotency, status: number, body: unknown): Promise<void> {
  await enterPlatform(trx)
  await prepared(
    trx,
    `insert into platform_idempotency_keys (key, request_hash, method, path, status_code, sealed_response, expires_at)
     values (?, ?, ?, ?, ?, ?, now() + make_interval(hours => ?))`,
    [idem.key, idem.hash, idem.method, idem.path, status, seal(idem, body), idem.ttlHours],
  )
}

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import { prepared, type Trx } from '../kernel/db/knex'
import { afterCommit } from '../kernel/db/tenant'
import { loadConfig } from '../kernel/config'

/**
 * Customer data keys (crypto-shredding, ARCHITECTURE §7 "Anonymization").
 *
 * Each customer has one random 256-bit data key, created on first use. It is stored in
 * `customer_keys` wrapped (AES-256-GCM, AAD = tenant and customer) under the tenant key, which is
 * derived with HKDF-SHA256 from DATA_ENCRYPTION_KEY and the tenant id and never stored. Anonymizing
 * destroys the key: the row stays as a tombstone (`wrapped_key` null, `destroyed_at` set) so the
 * key is never created again for that customer, and whatever was sealed under it reads back null.
 *
 * Keys are resolved set-based: one statement per batch creates the missing keys and returns all of
 * them. Writes (sealing) may use a per-process LRU of unwrapped keys, filled only after the
 * transaction that read or created them commits and evicted here when a key is destroyed; reads
 * (opening) always ask the database, so a key destroyed by another process is never used to read.
 * A write that used a key cached before another process destroyed it seals under a dead key, which
 * reads back null: harmless, as an anonymized customer takes no documents and no edits.
 */

let secret: string | null = null
let cacheSize: number | null = null
const tenantKeys = new Map<string, Buffer>()
const TENANT_KEYS_MAX = 10000

/** Sets the secret and the cache size (the app and the worker call it at start-up with their config). */
export function configureDataKeys(config: { DATA_ENCRYPTION_KEY: string; DATA_KEY_CACHE_SIZE: number }): void {
  if (secret !== config.DATA_ENCRYPTION_KEY) tenantKeys.clear()
  secret = config.DATA_ENCRYPTION_KEY
  cacheSize = config.DATA_KEY_CACHE_SIZE
  while (lru.size > cacheSize) lru.delete(lru.keys().next().value!)
}

function settings(): { secret: string; cacheSize: number } {
  if (secret === null || cacheSize === null) configureDataKeys(loadConfig())
  return { secret: secret!, cacheSize: cacheSize! }
}

function tenantKey(tenantId: string): Buffer {
  let k = tenantKeys.get(tenantId)
  if (!k) {
    if (tenantKeys.size >= TENANT_KEYS_MAX) tenantKeys.clear()
    k = Buffer.from(hkdfSync('sha256', settings().secret, 'receivables/customer-keys/v1', tenantId, 32))
    tenantKeys.set(tenantId, k)
  }
  return k
}

const IV = 12
const TAG = 16

/** AES-256-GCM: iv ‖ ciphertext ‖ tag. */
export function encrypt(key: Buffer, plain: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV)
  const c = createCipheriv('aes-256-gcm', key, iv)
  c.setAAD(Buffer.from(aad))
  const body = Buffer.concat([c.update(plain), c.final()])
  return Buffer.concat([iv, body, c.getAuthTag()])
}

/** The plaintext, or null when the key is wrong or the bytes were changed. */
export function decrypt(key: Buffer, sealed: Buffer, aad: string): Buffer | null {
  if (sealed.length < IV + TAG) return null
  try {
    const d = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV))
    d.setAAD(Buffer.from(aad))
    d.setAuthTag(sealed.subarray(sealed.length - TAG))
    return Buffer.concat([d.update(sealed.subarray(IV, sealed.length - TAG)), d.final()])
  } catch {
    return null
  }
}

const wrapAad = (tenantId: string, customerId: string) => `customer-key|${tenantId}|${customerId}`

export function wrapKey(tenantId: string, customerId: string, dataKey: Buffer): Buffer {
  return encrypt(tenantKey(tenantId), dataKey, wrapAad(tenantId, customerId))
}

function unwrapKey(tenantId: string, customerId: string, wrapped: Buffer | null): Buffer | null {
  return wrapped ? decrypt(tenantKey(tenantId), wrapped, wrapAad(tenantId, customerId)) : null
}

// ---- per-process cache for writes ---------------------------------------------------------------

const lru = new Map<string, Buffer>()

function cached(tenantId: string, customerId: string): Buffer | undefined {
  const k = `${tenantId}:${customerId}`
  const v = lru.get(k)
  if (v) {
    lru.delete(k)
    lru.set(k, v)
  }
  return v
}

function remember(tenantId: string, keys: Map<string, Buffer | null>): void {
  const max = settings().cacheSize
  if (!max) return
  for (const [id, key] of keys) {
    if (!key) continue
    lru.set(`${tenantId}:${id}`, key)
    if (lru.size > max) lru.delete(lru.keys().next().value!)
  }
}

// ---- resolution -----------------------------------------------------------------------------------

/** Keys resolved in a transaction: customer → key (null: destroyed). Write and read sides apart. */
const sealKeys = new WeakMap<Trx, Map<string, Buffer | null>>()
const openKeys = new WeakMap<Trx, Map<string, Buffer | null>>()

function trxMap(store: WeakMap<Trx, Map<string, Buffer | null>>, trx: Trx): Map<string, Buffer | null> {
  let m = store.get(trx)
  if (!m) store.set(trx, (m = new Map()))
  return m
}

/**
 * The data keys to seal new data of `customerIds` with, creating the missing ones: one statement
 * for all the customers not already known to the transaction or the process cache. Null: the key
 * was destroyed (the customer is anonymized), so nothing may be sealed for it.
 */
export async function sealingKeys(trx: Trx, tenantId: string, customerIds: Iterable<string>): Promise<Map<string, Buffer | null>> {
  const known = trxMap(sealKeys, trx)
  const missing: string[] = []
  for (const id of new Set(customerIds)) {
    if (known.has(id)) continue
    const hit = cached(tenantId, id)
    if (hit) known.set(id, hit)
    else missing.push(id)
  }
  if (missing.length) {
    const fresh = missing.map((id) => wrapKey(tenantId, id, randomBytes(32)).toString('base64'))
    // Inserted keys come back from the insert, existing ones from the table (same snapshot, so a
    // key inserted concurrently and committed meanwhile is read again below).
    const { rows } = await prepared(
      trx,
      `with want as (select * from unnest(?::text[], ?::text[]) as w(customer_id, wrapped)),
            ins as (
              insert into customer_keys (tenant_id, customer_id, wrapped_key)
              select ?, w.customer_id, decode(w.wrapped, 'base64') from want w
              on conflict (tenant_id, customer_id) do nothing
              returning customer_id, wrapped_key, true as created)
       select customer_id, wrapped_key, created from ins
       union all
       select k.customer_id, k.wrapped_key, false from customer_keys k
        where k.tenant_id = ? and k.customer_id = any(?::text[]) and k.customer_id not in (select customer_id from ins)`,
      [missing, fresh, tenantId, tenantId, missing],
    )
    let found = rows as { customer_id: string; wrapped_key: Buffer | null }[]
    if (found.length < missing.length) {
      const seen = new Set(found.map((r) => r.customer_id))
      const again = await trx('customer_keys').where({ tenant_id: tenantId }).whereIn('customer_id', missing.filter((m) => !seen.has(m))).select('customer_id', 'wrapped_key')
      found = [...found, ...again]
    }
    const resolved = new Map<string, Buffer | null>()
    for (const r of found) resolved.set(r.customer_id, unwrapKey(tenantId, r.customer_id, r.wrapped_key))
    for (const id of missing) {
      if (!resolved.has(id)) throw new Error(`customer key for ${id} could not be created`)
      known.set(id, resolved.get(id)!)
    }
    afterCommit(trx, () => remember(tenantId, resolved))
  }
  return known
}

/** The data keys to read sealed data of `customerIds` with (null: destroyed or never created). */
export async function openingKeys(trx: Trx, tenantId: string, customerIds: Iterable<string>): Promise<Map<string, Buffer | null>> {
  const known = trxMap(openKeys, trx)
  const missing = [...new Set(customerIds)].filter((id) => !known.has(id))
  if (missing.length) {
    const { rows } = await prepared(trx, `select customer_id, wrapped_key from customer_keys where tenant_id = ? and customer_id = any(?::text[])`, [tenantId, missing])
    const byId = new Map((rows as { customer_id: string; wrapped_key: Buffer | null }[]).map((r) => [r.customer_id, r.wrapped_key]))
    for (const id of missing) known.set(id, unwrapKey(tenantId, id, byId.get(id) ?? null))
  }
  return known
}

/**
 * Destroys a customer's data key for good (the row stays as a tombstone so no new key is made).
 * Irreversible: everything sealed under it reads back null from now on.
 */
export async function destroyCustomerKey(trx: Trx, tenantId: string, customerId: string): Promise<void> {
  await trx.raw(
    `insert into customer_keys (tenant_id, customer_id, wrapped_key, destroyed_at) values (?, ?, null, now())
     on conflict (tenant_id, customer_id) do update set wrapped_key = null, destroyed_at = coalesce(customer_keys.destroyed_at, now())`,
    [tenantId, customerId],
  )
  for (const store of [sealKeys, openKeys]) store.get(trx)?.set(customerId, null)
  lru.delete(`${tenantId}:${customerId}`)
  afterCommit(trx, () => lru.delete(`${tenantId}:${customerId}`))
}

import type { Trx } from '../kernel/db/knex'
import { decrypt, encrypt, openingKeys, sealingKeys } from './keys'

/**
 * Sealing of personal data in the stores that cannot forget: audit before/after snapshots, event
 * payloads and stored idempotent responses.
 *
 * Personal data = these fields of any customer object found at any depth of a payload (an object
 * whose `id` is a `cus_` id and whose `object` is `customer` or absent, as in audit snapshots and
 * duplicate hints): the fields `customers.pii.view` guards (email, phone, tax_id, billing_address,
 * shipping_address) plus `name`, `external_id` (the merchant's key for the person) and `metadata`
 * (free-form: the service cannot know it holds nothing personal, so it is treated as personal).
 *
 * A sealed value is the string `pii:v1:<base64 of iv ‖ AES-256-GCM(JSON of the value) ‖ tag>`
 * under the customer's data key, AAD `tenant|customer|field`. Null stays null. A value of a
 * customer whose key was destroyed is stored, and reads back, as null. Reads open only those
 * positions (a look-alike string elsewhere is left alone), so seal and open are exact mirrors.
 *
 * Seal never changes its argument (payloads are often also the response); a payload without any
 * customer object is returned as is, without a copy and without a key lookup.
 */
export const SEALED_FIELDS = ['name', 'email', 'phone', 'tax_id', 'billing_address', 'shipping_address', 'external_id', 'metadata'] as const

const PREFIX = 'pii:v1:'
const MAX_DEPTH = 64

function isCustomer(o: Record<string, unknown>): o is Record<string, unknown> & { id: string } {
  return typeof o.id === 'string' && o.id.startsWith('cus_') && (o.object === undefined || o.object === 'customer')
}

/** The customer ids whose fields appear in `values`. */
export function customersIn(values: unknown[]): Set<string> {
  const ids = new Set<string>()
  const walk = (v: unknown, depth: number): void => {
    if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1)
      return
    }
    const o = v as Record<string, unknown>
    if (isCustomer(o) && SEALED_FIELDS.some((f) => o[f] !== undefined && o[f] !== null)) ids.add(o.id)
    for (const x of Object.values(o)) if (x !== null && typeof x === 'object') walk(x, depth + 1)
  }
  for (const v of values) walk(v, 0)
  return ids
}

type FieldFn = (customerId: string, field: string, value: unknown) => unknown

/** A copy of `v` with each customer's sealed fields replaced by `fn`. */
function mapFields(v: unknown, fn: FieldFn, depth = 0): unknown {
  if (v === null || typeof v !== 'object' || depth > MAX_DEPTH) return v
  if (Array.isArray(v)) return v.map((x) => mapFields(x, fn, depth + 1))
  if (v instanceof Date) return v
  const o = v as Record<string, unknown>
  const out: Record<string, unknown> = {}
  const customer = isCustomer(o)
  for (const [k, x] of Object.entries(o)) {
    out[k] = customer && (SEALED_FIELDS as readonly string[]).includes(k) && x !== null && x !== undefined ? fn(o.id as string, k, x) : mapFields(x, fn, depth + 1)
  }
  return out
}

const aad = (tenantId: string, customerId: string, field: string) => `${tenantId}|${customerId}|${field}`

/** Seals with keys already resolved (see sealValues); a customer missing from `keys` is a bug. */
export function sealWith(tenantId: string, keys: Map<string, Buffer | null>, value: unknown): unknown {
  return mapFields(value, (id, field, x) => {
    if (typeof x === 'string' && x.startsWith(PREFIX)) return x // already sealed (a stored snapshot copied over)
    const key = keys.get(id)
    if (key === undefined) throw new Error(`sealing: no key resolved for ${id}`)
    if (key === null) return null
    return PREFIX + encrypt(key, Buffer.from(JSON.stringify(x)), aad(tenantId, id, field)).toString('base64')
  })
}

/** Seals several payloads of one tenant with one key lookup (none when they hold no customer). */
export async function sealValues<T extends unknown[]>(trx: Trx, tenantId: string, values: T): Promise<T> {
  const ids = customersIn(values)
  if (!ids.size) return values
  const keys = await sealingKeys(trx, tenantId, ids)
  return values.map((v) => sealWith(tenantId, keys, v)) as T
}

/** Resolves (and creates) the keys `values` will need, so later seals of them cost no statement. */
export async function prepareSealing(trx: Trx, tenantId: string, values: unknown[]): Promise<void> {
  const ids = customersIn(values)
  if (ids.size) await sealingKeys(trx, tenantId, ids)
}

function sealedCustomers(values: unknown[]): Set<string> {
  const ids = new Set<string>()
  for (const v of values) mapFields(v, (id, _f, x) => (typeof x === 'string' && x.startsWith(PREFIX) && ids.add(id), x))
  return ids
}

/**
 * Opens several stored payloads of one tenant with one key lookup: every sealed value becomes its
 * plaintext, or null when the customer's key is destroyed. Payloads with nothing sealed are
 * returned as they are.
 */
export async function openValues<T extends unknown[]>(trx: Trx, tenantId: string, values: T): Promise<T> {
  const ids = sealedCustomers(values)
  if (!ids.size) return values
  const keys = await openingKeys(trx, tenantId, ids)
  return values.map((v) =>
    mapFields(v, (id, field, x) => {
      if (typeof x !== 'string' || !x.startsWith(PREFIX)) return x
      const key = keys.get(id)
      const plain = key ? decrypt(key, Buffer.from(x.slice(PREFIX.length), 'base64'), aad(tenantId, id, field)) : null
      return plain ? JSON.parse(plain.toString('utf8')) : null
    }),
  ) as T
}

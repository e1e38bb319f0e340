import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz' // Crockford base32, lowercase

// Random bytes are drawn from a pool refilled 4 KiB at a time, not one call per id.
const POOL_SIZE = 4096
let pool = randomBytes(POOL_SIZE)
let poolAt = 0
let lastTime = -1
const lastRand: number[] = new Array(16).fill(0)

/**
 * Sortable opaque id: `<prefix>_` + 10 chars of millisecond time + 16 random chars. Monotonic
 * within a process: an id made in the same millisecond as the previous one (or after the clock
 * stepped back) reuses its time and increments its random part, so ids made one after another
 * always sort in that order (a sub-ledger is read in id order).
 */
export function newId(prefix: string): string {
  let t = Date.now()
  if (t <= lastTime) {
    t = lastTime
    let i = 15
    while (i >= 0 && lastRand[i] === 31) lastRand[i--] = 0
    if (i < 0) throw new Error('newId: random part exhausted within one millisecond')
    lastRand[i]++
  } else {
    lastTime = t
    if (poolAt + 16 > POOL_SIZE) {
      pool = randomBytes(POOL_SIZE)
      poolAt = 0
    }
    // The top digit starts below 16, leaving room to increment within a millisecond.
    for (let i = 0; i < 16; i++) lastRand[i] = pool[poolAt + i] % (i === 0 ? 16 : 32)
    poolAt += 16
  }
  let time = ''
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  let rand = ''
  for (let i = 0; i < 16; i++) rand += ALPHABET[lastRand[i]]
  return `${prefix}_${time}${rand}`
}

/** JSON-schema pattern for an id with the given prefix. */
export function idPattern(prefix: string): string {
  return `^${prefix}_[0-9a-z]{26}$`
}

/** Tenants are uuids inside the database (RLS casts the setting to uuid) and `ten_<hex>` outside. */
export function tenantPublicId(uuid: string): string {
  return `ten_${uuid.replace(/-/g, '')}`
}

export function tenantUuid(publicId: string): string | null {
  const m = /^ten_([0-9a-f]{32})$/.exec(publicId)
  if (!m) return null
  const h = m[1]
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

import { randomBytes } from 'node:crypto'

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz' // Crockford base32, lowercase

/** Sortable opaque id: `<prefix>_` + 10 chars of millisecond time + 16 random chars. */
export function newId(prefix: string): string {
  let t = Date.now()
  let time = ''
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time
    t = Math.floor(t / 32)
  }
  const bytes = randomBytes(16)
  let rand = ''
  for (let i = 0; i < 16; i++) rand += ALPHABET[bytes[i] % 32]
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

import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError, notFound } from '../kernel/errors'
import type { Db, Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { accessFor, BUILT_IN_ROLES, builtInAccess, isBuiltInRole, isPermission, type Access } from '../kernel/permissions'
import { hashSecret, parseSecret } from '../../tenants/keys'
import { cacheKey, getCachedKey, type CachedKey } from '../../tenants/key-cache'
import type { RequestContext } from '../kernel/context'
import { ROUTE_PERMISSIONS, routeKey } from './access'
import { findSession, parseSessionToken } from '../console/model'
import { checkCsrf, CONSOLE_COOKIE, refuseCrossSite } from './console-session'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `key` (default): an API key, with the route's permissions from core/http/access.ts; `platform`: the platform admin token; `none`: public. */
    auth?: 'key' | 'platform' | 'none'
    /** Body nesting allowed beyond the default 32 levels (core/http/input.ts), for bodies that bound their own depth. */
    maxBodyDepth?: number
  }
  interface FastifyRequest {
    ctx: RequestContext
    /** Set when the request authenticated with a console session cookie (core/console). */
    consoleSession?: { id: string; tenantId: string; csrfSecret: string; expiresAt: Date; keyName: string }
  }
}

function bearer(req: FastifyRequest): string | null {
  const h = req.headers.authorization
  if (!h) return null
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(h)
  return m ? m[1] : ''
}

/**
 * The rate limiter's bucket, computed before authentication: the bearer token as authentication
 * reads it (scheme in any case, surrounding whitespace trimmed), so every spelling of one key
 * counts against one budget. Only the platform token and a token that is an active key (looked up
 * as authentication will, through the same short cache, so authentication then finds it cached)
 * get their own bucket, hashed (the store key lands in Redis); no token, or one that is no key,
 * counts against the client address, so made-up tokens, even shaped like keys, buy no fresh budget.
 */
export async function rateLimitKey(req: FastifyRequest, db: Db, platformToken: string): Promise<string> {
  const token = bearer(req)
  if (!token) return `ip:${req.ip}`
  const digest = sha256(token)
  const own = () => `key:${digest.toString('base64url')}`
  if (timingSafeEqual(digest, platformDigest(platformToken))) return own()
  if (!parseSecret(token)) return `ip:${req.ip}`
  try {
    return (await requestKey(req, db, token, digest.toString('hex'))) ? own() : `ip:${req.ip}`
  } catch {
    return own() // the database is unreachable: authentication answers for it
  }
}

/**
 * The rate limiter's budget for the request's bucket: the platform's (`platformMax` per window),
 * or the tenant's own `rate_limit.requests_per_key` when the bearer token is one of its keys and
 * the tenant set a lower one. The key was looked up for the bucket (rateLimitKey) and is cached, so
 * this costs no round trip; a token that is no key gets the platform's budget (and 401).
 */
export async function rateLimitMax(req: FastifyRequest, db: Db, platformMax: number): Promise<number> {
  let pending = requestKeys.get(req)
  if (!pending) {
    const token = bearer(req)
    if (!token || !parseSecret(token)) return platformMax
    pending = requestKey(req, db, token)
  }
  try {
    const key = await pending
    return key?.requestsPerKey == null ? platformMax : Math.min(platformMax, key.requestsPerKey)
  } catch {
    return platformMax
  }
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

let platform: { token: string; digest: Buffer } | null = null

/** The platform token's digest, computed once (a process has one platform token). */
function platformDigest(token: string): Buffer {
  if (platform?.token !== token) platform = { token, digest: sha256(token) }
  return platform.digest
}

/** Whether `token` is the platform admin token, compared in constant time. */
function isPlatformToken(token: string, platformToken: string): boolean {
  return timingSafeEqual(sha256(token), platformDigest(platformToken))
}

const requestKeys = new WeakMap<FastifyRequest, Promise<CachedKey | null>>()

/**
 * The key of the request's bearer `token`, looked up once per request: the rate limiter's bucket
 * and budget and authentication all ask for it (a key cache hit still hashes the secret, once:
 * `hash` when the caller has it).
 */
function requestKey(req: FastifyRequest, db: Db, token: string, hash?: string): Promise<CachedKey | null> {
  let key = requestKeys.get(req)
  if (!key) requestKeys.set(req, (key = lookupKey(db, token, hash)))
  return key
}

function baseContext(req: FastifyRequest): Pick<RequestContext, 'requestId' | 'ip' | 'userAgent' | 'idempotencyKey'> {
  const idem = req.headers['idempotency-key']
  return {
    requestId: req.id,
    ip: req.ip ?? null,
    userAgent: (req.headers['user-agent'] as string | undefined)?.slice(0, 500) ?? null,
    idempotencyKey: typeof idem === 'string' ? idem : null,
  }
}

/**
 * What a key may do: its role's permissions (a built-in role, or the tenant's custom role it names),
 * limited to the customers of its owners (key id, user label) when the role says so.
 */
export function keyAccess(key: { id: string; role: string; user_label: string | null; permissions: string[] | null; own_customers_only: boolean | null }): Access {
  const owners = [key.id, ...(key.user_label ? [key.user_label] : [])]
  if (isBuiltInRole(key.role)) return accessFor(key.role, BUILT_IN_ROLES[key.role], owners)
  // A custom role (its row joined in); a role that no longer exists grants nothing.
  return accessFor(key.role, { permissions: (key.permissions ?? []).filter(isPermission), ownCustomersOnly: key.own_customers_only ?? true }, owners)
}

/**
 * Authenticates every request in `onRequest` (before the body is even read) and checks the route's
 * permissions from the one table (core/http/access.ts), so a request without a key gets 401 and
 * one whose role lacks a permission 403, whatever its body. A key route missing from the table
 * fails at startup.
 */
export function registerAuth(app: FastifyInstance): void {
  app.decorateRequest('ctx', null as unknown as RequestContext)

  // Added per route (after the rate limiter's own per-route hook), so requests with a bad or
  // missing key are rate-limited too.
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth ?? 'key'
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map((m) => (m === 'HEAD' ? 'GET' : m))
    if (mode === 'key' && methods.some((m) => !ROUTE_PERMISSIONS[routeKey(m, route.url)])) {
      throw new Error(`route ${route.method} ${route.url} has no entry in ROUTE_PERMISSIONS (core/http/access.ts)`)
    }
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : []
    route.onRequest = [...existing, authenticate]
  })

  async function authenticate(req: FastifyRequest): Promise<void> {
    const config = req.routeOptions.config ?? {}
    const mode = config.auth ?? 'key'
    if (mode === 'none' || req.is404) return
    const token = bearer(req)
    // No Authorization header: a console session cookie may stand in for the key (core/console).
    const cookie = token === null && mode === 'key' ? req.cookies?.[CONSOLE_COOKIE] : undefined
    if (token === null && !cookie) throw new AppError('authentication_required')
    if (mode === 'platform') {
      if (!token || !isPlatformToken(token, app.deps.config.PLATFORM_ADMIN_TOKEN)) throw new AppError('invalid_api_key', 'The platform admin token is invalid.')
      return
    }
    const key = token === null ? await consoleSessionKey(app.deps.db, req, cookie!) : await apiKeyFor(app.deps.db, token, req)
    req.ctx = keyContext(req, key)
    const required = ROUTE_PERMISSIONS[routeKey(req.method === 'HEAD' ? 'GET' : req.method, req.routeOptions.url ?? '')]
    const missing = required === 'authenticated' ? undefined : required?.find((p) => !key!.access.permissions.has(p))
    if (!required || missing) {
      throw new AppError('permission_denied', `The '${key.access.role}' role lacks the '${missing ?? 'route'}' permission.`, { details: { permission: missing ?? null } })
    }
  }
}

/** The context of a request made with `key` (an API key, or the key behind a console session). */
export function keyContext(req: FastifyRequest, key: CachedKey): RequestContext {
  return { tenantId: key.tenantId, keyId: key.keyId, user: key.user, role: key.access.role, access: key.access, ...baseContext(req) }
}

/**
 * The key behind a console session cookie: never cached, so signing out or revoking the key ends
 * the session at once. Refused cross-site; a state change needs the session's CSRF token.
 */
export async function consoleSessionKey(db: Db, req: FastifyRequest, cookie: string): Promise<CachedKey> {
  refuseCrossSite(req)
  const parsed = parseSessionToken(cookie)
  const row = parsed ? await withTenant(db, parsed.tenantId, (trx) => findSession(trx, parsed.tenantId, cookie)) : undefined
  if (!parsed || !row) throw new AppError('invalid_session')
  checkCsrf(req, row.csrf_secret, row.session_id)
  req.consoleSession = { id: row.session_id, tenantId: parsed.tenantId, csrfSecret: row.csrf_secret, expiresAt: row.expires_at, keyName: row.name }
  // Cookie requests are rate-limited per client address (rateLimitKey), not per key.
  return { tenantId: parsed.tenantId, keyId: row.id, user: row.user_label, access: keyAccess(row), requestsPerKey: null }
}

/** The tenant key whose secret is `token` (cached briefly), else 401. */
export async function apiKeyFor(db: Db, token: string, req?: FastifyRequest): Promise<CachedKey> {
  const key = await (req ? requestKey(req, db, token) : lookupKey(db, token))
  if (!key) throw new AppError('invalid_api_key')
  return key
}

/** The active key whose secret `token` is, or null (a miss is cached too: tenants/key-cache.ts). */
async function lookupKey(db: Db, token: string, hash = hashSecret(token)): Promise<CachedKey | null> {
  // Only secrets shaped like keys are ever cached, so a hit needs no parse.
  const cached = getCachedKey(hash)
  if (cached !== undefined) return cached
  const parsed = parseSecret(token)
  if (!parsed) return null
  const row = await withTenant(db, parsed.tenantId, (trx) =>
    trx('api_keys as k')
      .leftJoin('roles as r', function () {
        this.on('r.tenant_id', 'k.tenant_id').andOn('r.id', 'k.role')
      })
      .join('tenants as t', 't.tenant_id', 'k.tenant_id')
      .where({ 'k.tenant_id': parsed.tenantId, 'k.secret_hash': hash })
      .whereNull('k.revoked_at')
      .first('k.id', 'k.role', 'k.user_label', 'r.permissions', 'r.own_customers_only', trx.raw(`t.settings->'rate_limit'->'requests_per_key' as requests_per_key`)),
  )
  const key: CachedKey | null = row
    ? { tenantId: parsed.tenantId, keyId: row.id, user: row.user_label, access: keyAccess(row), requestsPerKey: typeof row.requests_per_key === 'number' ? row.requests_per_key : null }
    : null
  cacheKey(hash, key)
  return key
}

/**
 * An active (unrevoked) API key of the tenant named by its id (`key_…`) or by its staff `user`
 * label, else 404 `resource_missing` with `param`: a key of another tenant (hidden by row-level
 * security) answers like one that never existed. For fields that name a key's owner, such as a
 * customer's `assigned_to`.
 */
export async function assertTenantKey(trx: Trx, tenantId: string, idOrUser: string, param: string): Promise<void> {
  const q = trx('api_keys').where({ tenant_id: tenantId }).whereNull('revoked_at')
  if (idOrUser.startsWith('key_')) q.where({ id: idOrUser })
  else q.where({ user_label: idOrUser })
  const row = await q.first('id')
  if (!row) throw notFound('API key', idOrUser, param)
}

/** Context for platform-token routes that act on a tenant they have just chosen. */
export function platformContext(req: FastifyRequest, tenantId: string): RequestContext {
  return { tenantId, keyId: null, user: null, role: 'platform', access: builtInAccess('admin'), ...baseContext(req) }
}

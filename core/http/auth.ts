import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError, notFound } from '../kernel/errors'
import type { Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import { abilityFor, defineAbility, Role, type Action, type Subject } from '../kernel/permissions'
import { hashSecret, parseSecret } from '../../tenants/keys'
import { cacheKey, getCachedKey } from '../../tenants/key-cache'
import type { RequestContext } from '../kernel/context'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `key` (default): an API key; `platform`: the platform admin token; `none`: public. */
    auth?: 'key' | 'platform' | 'none'
    /** The action and subject the key's role must hold; required on every `key` route. */
    permission?: [Action, Subject]
  }
  interface FastifyRequest {
    ctx: RequestContext
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
 * counts against one budget. Only a token shaped like a key secret (or the platform token) gets
 * its own bucket, hashed (the store key lands in Redis); no token, or one that cannot be a key,
 * counts against the client address, so made-up strings do not buy fresh budgets.
 */
export function rateLimitKey(req: FastifyRequest, platformToken: string): string {
  const token = bearer(req)
  if (token && (parseSecret(token) || sameSecret(token, platformToken))) return `key:${createHash('sha256').update(token).digest('base64url')}`
  return `ip:${req.ip}`
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest()
  const hb = createHash('sha256').update(b).digest()
  return timingSafeEqual(ha, hb)
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
 * Authenticates every request in `onRequest` (before the body is even read) and checks the route's
 * declared permission, so a request without a key gets 401 and one without the right role 403,
 * whatever its body. A route that forgets to declare its permission fails at startup.
 */
export function registerAuth(app: FastifyInstance): void {
  app.decorateRequest('ctx', null as unknown as RequestContext)

  // Added per route (after the rate limiter's own per-route hook), so requests with a bad or
  // missing key are rate-limited too.
  app.addHook('onRoute', (route) => {
    const mode = route.config?.auth ?? 'key'
    if (mode === 'key' && !route.config?.permission) {
      throw new Error(`route ${route.method} ${route.url} declares no permission`)
    }
    const existing = route.onRequest ? (Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest]) : []
    route.onRequest = [...existing, authenticate]
  })

  async function authenticate(req: FastifyRequest): Promise<void> {
    const config = req.routeOptions.config ?? {}
    const mode = config.auth ?? 'key'
    if (mode === 'none' || req.is404) return
    const token = bearer(req)
    if (token === null) throw new AppError('authentication_required')
    if (mode === 'platform') {
      if (!token || !sameSecret(token, app.deps.config.PLATFORM_ADMIN_TOKEN)) throw new AppError('invalid_api_key', 'The platform admin token is invalid.')
      return
    }
    const parsed = parseSecret(token)
    if (!parsed) throw new AppError('invalid_api_key')
    const hash = hashSecret(token)
    let key = getCachedKey(hash)
    if (!key) {
      const row = await withTenant(app.deps.db, parsed.tenantId, (trx) =>
        trx('api_keys').where({ tenant_id: parsed.tenantId, secret_hash: hash }).whereNull('revoked_at').first('id', 'role'),
      )
      if (!row) throw new AppError('invalid_api_key')
      key = { tenantId: parsed.tenantId, keyId: row.id, role: row.role }
      cacheKey(hash, key)
    }
    const ability = abilityFor(key.role as Role, key.keyId)
    req.ctx = { tenantId: parsed.tenantId, keyId: key.keyId, role: key.role as Role, ability, ...baseContext(req) }
    const [action, subject] = config.permission!
    if (!ability.can(action, subject)) {
      throw new AppError('permission_denied', `The '${key.role}' role cannot ${action} ${subject}.`)
    }
  }
}

/**
 * An active (unrevoked) API key of the tenant, else 404 `resource_missing` with
 * `param`: a key of another tenant (hidden by row-level security) answers like one that never
 * existed. For fields that name a key, such as a customer's `assigned_to`.
 */
export async function assertTenantKey(trx: Trx, tenantId: string, keyId: string, param: string): Promise<void> {
  const row = await trx('api_keys').where({ tenant_id: tenantId, id: keyId }).whereNull('revoked_at').first('id')
  if (!row) throw notFound('API key', keyId, param)
}

/** Context for platform-token routes that act on a tenant they have just chosen. */
export function platformContext(req: FastifyRequest, tenantId: string): RequestContext {
  return { tenantId, keyId: null, role: 'platform', ability: defineAbility('admin', 'platform'), ...baseContext(req) }
}

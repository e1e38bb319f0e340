import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fastifyStatic from '@fastify/static'
import { apiKeyFor, consoleSessionKey, keyContext } from '../http/auth'
import { clearSessionCookie, CONSOLE_COOKIE, csrfToken, newCsrfSecret, refuseCrossSite, setSessionCookie } from '../http/console-session'
import { withTenant } from '../kernel/db/tenant'
import { AppError } from '../kernel/errors'
import { tenantPublicId } from '../kernel/ids'
import { tenantName } from './model'
import { signInToConsole, signOutOfConsole } from '../workflows/console-session'

/**
 * The tenant admin console (ARCHITECTURE §11, API.md "Console"): the session endpoints that trade
 * an API key for an HttpOnly cookie, and the single-page app's files (core/console/web) with the
 * ES modules it imports (Preact, htm, uPlot) straight from node_modules: no build step. Everything
 * else the console does goes through the public API (/v1) with the cookie.
 */

const WEB_DIR = path.join(__dirname, 'web')
const MODULES = path.join(__dirname, '..', '..', 'node_modules')
/** The only node_modules files served, by the name the import map (web/index.html) uses. */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact/dist/preact.mjs',
  'hooks.mjs': 'preact/hooks/dist/hooks.mjs',
  'htm.mjs': 'htm/dist/htm.mjs',
  'uPlot.esm.js': 'uplot/dist/uPlot.esm.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
}
const APP_FILE = /^[a-z0-9-]+\.(js|css)$/

// The console's own endpoints stay out of the public API's spec (api-spec/openapi.json lists /v1 only).
const tags = ['console']
const errors = { '4xx': { $ref: 'Error#' } }
const sessionSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['console_session'] },
    tenant: { type: 'object', properties: { id: { type: 'string' }, name: { type: ['string', 'null'] } } },
    key: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
    user: { type: ['string', 'null'] },
    role: { type: 'string' },
    permissions: { type: 'array', items: { type: 'string' } },
    expires_at: { type: ['string', 'null'] },
    csrf_token: { type: ['string', 'null'], description: 'Send it as X-CSRF-Token with every state change made with the session cookie.' },
  },
}

/**
 * The page's Content-Security-Policy: its own scripts and the inline import map (by hash) only, no
 * framing (clickjacking), no foreign connections. Styles may be inline (uPlot sizes its canvas so).
 */
function contentSecurityPolicy(): string {
  const html = fs.readFileSync(path.join(WEB_DIR, 'index.html'), 'utf8')
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? ''
  const hash = createHash('sha256').update(importMap).digest('base64')
  return [
    "default-src 'self'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "object-src 'none'",
  ].join('; ')
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store')
}

export async function consoleRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, { root: WEB_DIR, serve: false })

  const view = async (req: FastifyRequest, tenantId: string, key: { keyId: string; keyName: string; user: string | null; role: string; permissions: Iterable<string> }, expiresAt: Date, csrf: { secret: string; sessionId: string }) => ({
    object: 'console_session' as const,
    tenant: { id: tenantPublicId(tenantId), name: await withTenant(req.server.deps.db, tenantId, (trx) => tenantName(trx, tenantId)) },
    key: { id: key.keyId, name: key.keyName },
    user: key.user,
    role: key.role,
    permissions: [...key.permissions].sort(),
    expires_at: expiresAt.toISOString(),
    csrf_token: csrfToken(csrf.secret, csrf.sessionId),
  })

  app.post<{ Body: { api_key: string } }>(
    '/console/session',
    {
      config: { auth: 'none' },
      schema: {
        hide: true,
        tags,
        summary: 'Sign in to the console: trade an API key for a session cookie (HttpOnly, SameSite=Strict); the key is not kept by the browser',
        security: [],
        body: { type: 'object', additionalProperties: false, required: ['api_key'], properties: { api_key: { type: 'string', minLength: 1, maxLength: 200 } } },
        response: { 201: sessionSchema, ...errors },
      },
    },
    async (req, reply) => {
      refuseCrossSite(req)
      const key = await apiKeyFor(req.server.deps.db, req.body.api_key)
      const secret = newCsrfSecret()
      const { session, name } = await withTenant(req.server.deps.db, key.tenantId, (trx) => signInToConsole(trx, keyContext(req, key), secret))
      setSessionCookie(req, reply, session.token, session.expiresAt)
      noStore(reply).code(201)
      return view(req, key.tenantId, { keyId: key.keyId, keyName: name, user: key.user, role: key.access.role, permissions: key.access.permissions }, session.expiresAt, { secret, sessionId: session.id })
    },
  )

  // These two answer the session cookie only (not an API key): they are the console's own, outside
  // the key routes' table. The cookie is checked as for every route (cross-site, CSRF on DELETE).
  const session = async (req: FastifyRequest) => {
    const cookie = req.cookies?.[CONSOLE_COOKIE]
    if (!cookie) throw new AppError('authentication_required', 'Sign in to the console first (POST /console/session).')
    const key = await consoleSessionKey(req.server.deps.db, req, cookie)
    return { key, s: req.consoleSession! }
  }

  app.get(
    '/console/session',
    { config: { auth: 'none' }, schema: { hide: true, tags, summary: 'Who the console session is: tenant, key, role and permissions, with its CSRF token', response: { 200: sessionSchema, ...errors } } },
    async (req, reply) => {
      const { key, s } = await session(req)
      noStore(reply)
      return view(req, key.tenantId, { keyId: key.keyId, keyName: s.keyName, user: key.user, role: key.access.role, permissions: key.access.permissions }, s.expiresAt, { secret: s.csrfSecret, sessionId: s.id })
    },
  )

  app.delete(
    '/console/session',
    { config: { auth: 'none' }, schema: { hide: true, tags, summary: 'Sign out of the console: ends the session and clears its cookie', response: { 204: { type: 'null' }, ...errors } } },
    async (req, reply) => {
      const { key, s } = await session(req)
      await withTenant(req.server.deps.db, s.tenantId, (trx) => signOutOfConsole(trx, keyContext(req, key), s.id))
      clearSessionCookie(req, reply)
      return noStore(reply).code(204).send()
    },
  )

  // The single-page app: index.html for /console (client-side routes live in the URL hash).
  const page = { config: { auth: 'none' as const }, schema: { hide: true } }
  app.get('/console', page, async (_req, reply) => reply.redirect('/console/'))
  const csp = contentSecurityPolicy()
  app.get('/console/', page, async (_req, reply) =>
    noStore(reply).header('content-security-policy', csp).header('x-frame-options', 'DENY').type('text/html; charset=utf-8').sendFile('index.html'),
  )
  app.get<{ Params: { file: string } }>('/console/app/:file', page, async (req, reply) => {
    if (!APP_FILE.test(req.params.file)) throw new AppError('route_not_found')
    return noStore(reply).sendFile(req.params.file)
  })
  app.get<{ Params: { file: string } }>('/console/vendor/:file', page, async (req, reply) => {
    const file = VENDOR[req.params.file]
    if (!file) throw new AppError('route_not_found')
    return reply.header('cache-control', 'public, max-age=3600').sendFile(file, MODULES)
  })
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import Tokens from '@fastify/csrf'
import { AppError } from '../kernel/errors'

/**
 * The console's session cookie and its CSRF defence (API.md "Console"). The cookie is HttpOnly,
 * SameSite=Strict, Secure when the request came over TLS, and expires with the session. A request
 * authenticated by it is refused when the browser says it comes from another site (Sec-Fetch-Site)
 * or its Origin is not this host; a state change must also carry the session's CSRF token in
 * `X-CSRF-Token` (tokens of @fastify/csrf, signed with the session's secret).
 */

export const CONSOLE_COOKIE = 'recv_console'
export const CSRF_HEADER = 'x-csrf-token'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Tokens bound to the session too (user info: the session's id), so one session's token fails on another. */
const tokens = new Tokens({ userInfo: true })

export function newCsrfSecret(): string {
  return tokens.secretSync()
}

export function csrfToken(secret: string, sessionId: string): string {
  return tokens.create(secret, sessionId)
}

export function refuseCrossSite(req: FastifyRequest): void {
  const site = req.headers['sec-fetch-site']
  if (site === 'cross-site' || site === 'same-site') throw new AppError('cross_site_request')
  const origin = req.headers.origin
  if (origin !== undefined) {
    if (!sameHost(origin, `${req.protocol}://${req.headers.host ?? ''}`)) throw new AppError('cross_site_request')
  }
}

/** Same scheme, host and port (default ports normalized away); `null` or garbage never matches. */
function sameHost(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}

export function checkCsrf(req: FastifyRequest, secret: string, sessionId: string): void {
  if (SAFE_METHODS.has(req.method)) return
  const token = req.headers[CSRF_HEADER]
  if (typeof token !== 'string' || !tokens.verify(secret, token, sessionId)) throw new AppError('csrf_token_invalid')
}

export function setSessionCookie(req: FastifyRequest, reply: FastifyReply, token: string, expiresAt: Date): void {
  reply.setCookie(CONSOLE_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'strict',
    secure: req.protocol === 'https',
    expires: expiresAt,
    maxAge: Math.max(0, Math.round((expiresAt.getTime() - Date.now()) / 1000)),
  })
}

export function clearSessionCookie(req: FastifyRequest, reply: FastifyReply): void {
  reply.clearCookie(CONSOLE_COOKIE, { path: '/', httpOnly: true, sameSite: 'strict', secure: req.protocol === 'https' })
}

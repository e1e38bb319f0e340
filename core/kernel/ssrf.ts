import dns from 'node:dns'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * The SSRF guard for webhook deliveries: only http(s), no redirects, and (unless private targets are
 * allowed for development) only public unicast addresses. The address check runs inside the socket's
 * DNS lookup, so the address checked is the address connected to: a hostname that resolves to a
 * public address when the endpoint is saved and to 127.0.0.1 at delivery (DNS rebinding) is refused.
 */

export const MAX_URL_LENGTH = 2048

/** Cloud metadata services; both lie inside refused ranges already, named here for the message. */
const METADATA_ADDRESSES = new Set(['169.254.169.254', 'fd00:ec2::254'])
/** Deprecated IPv4-compatible IPv6 (::a.b.c.d): ipaddr.js calls it unicast, but it embeds IPv4. */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96')

/**
 * The range an address belongs to: `unicast` for a public address, else the reason it is refused
 * (`loopback`, `private`, `linkLocal`, `carrierGradeNat`, `uniqueLocal`, `multicast`, `unspecified`,
 * `metadata`, `reserved`, …). IPv4-mapped IPv6 (::ffff:127.0.0.1, ::ffff:7f00:1) is judged as the
 * IPv4 address it carries.
 */
export function addressRange(address: string): string {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '')
  if (!ipaddr.isValid(bare)) return 'invalid'
  const ip = ipaddr.process(bare)
  if (METADATA_ADDRESSES.has(ip.toString())) return 'metadata'
  const range = ip.range()
  if (range === 'unicast' && ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).match(IPV4_COMPATIBLE)) return 'ipv4Compatible'
  return range
}

export function isPublicAddress(address: string): boolean {
  return addressRange(address) === 'unicast'
}

/** Why a URL cannot be a webhook target, or null. Shape only: the address is checked at connect time. */
export function urlProblem(raw: string): string | null {
  if (raw.length > MAX_URL_LENGTH) return `The URL is longer than ${MAX_URL_LENGTH} characters.`
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return 'The URL is not a valid absolute URL.'
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'The URL must use http or https.'
  if (url.username || url.password) return 'The URL must not contain credentials.'
  if (!url.hostname) return 'The URL has no host.'
  return null
}

export class SsrfError extends Error {
  constructor(
    readonly address: string,
    readonly range: string,
  ) {
    super(`refused to connect to ${address} (${range} address)`)
    this.name = 'SsrfError'
  }
}

/** A `lookup` for net.connect that resolves as usual, then refuses the host if any address is not public. */
export const guardedLookup: net.LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { family: options.family, hints: options.hints, all: true }, (err, addresses) => {
    if (err) return callback(err, '', 0)
    const refused = addresses.find((a) => !isPublicAddress(a.address))
    if (refused) return callback(new SsrfError(refused.address, addressRange(refused.address)), '', 0)
    if (addresses.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0)
    if (options.all) return callback(null, addresses)
    callback(null, addresses[0].address, addresses[0].family)
  })
}

/**
 * One address to connect to `host` at, checked like a webhook target unless private targets are
 * allowed: the caller connects to this address (so the checked address is the one used).
 */
export async function checkedAddress(host: string, allowPrivateTargets: boolean): Promise<string> {
  const bare = host.replace(/^\[|\]$/g, '')
  const addresses = net.isIP(bare) ? [{ address: bare }] : await dns.promises.lookup(bare, { all: true })
  if (!addresses.length) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' })
  if (!allowPrivateTargets) {
    const refused = addresses.find((a) => !isPublicAddress(a.address))
    if (refused) throw new SsrfError(refused.address, addressRange(refused.address))
  }
  return addresses[0].address
}

/**
 * Kept-alive connections for guardedPost, for a sender of many POSTs to the same receivers (the
 * webhook worker): a POST reuses an idle connection to its host instead of opening one. Every
 * connection is opened through the guard (its address checked as it connects), so a reused one
 * sends to that checked address only. An idle connection closes after `idleMs` (below the 5 s a
 * Node server keeps one), so a receiver seldom closes one under us; a POST that fails on a reused
 * connection before any answer is retried once on a fresh one (see guardedPost).
 */
export interface PostConnections {
  http: http.Agent
  https: https.Agent
}

export function keptAliveConnections(idleMs = 4000): PostConnections {
  const opts = { keepAlive: true, timeout: idleMs }
  return { http: new http.Agent(opts), https: new https.Agent(opts) }
}

export interface PostOptions {
  /** Lifts the address check (development and tests); scheme and redirect rules still apply. */
  allowPrivateTargets: boolean
  /** Connections to reuse (keptAliveConnections); without, the POST opens a connection of its own. */
  connections?: PostConnections
  /** Whole attempt: connect, send, response headers and the excerpt of the body. */
  timeoutMs: number
  /** How much of the response body to keep; the rest is not read. */
  maxResponseBytes: number
}

export type PostOutcome =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: string; durationMs: number }
  | { kind: 'error'; code: 'ssrf_refused' | 'timeout' | 'network' | 'invalid_url'; message: string; durationMs: number }

/**
 * POSTs `body` to `rawUrl` once, through the guard: never follows redirects (the 3xx comes back as a
 * response for the caller to treat as a failure), never throws.
 */
export function guardedPost(rawUrl: string, headers: Record<string, string>, body: string, opts: PostOptions): Promise<PostOutcome> {
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  const problem = urlProblem(rawUrl)
  if (problem) return Promise.resolve({ kind: 'error', code: 'invalid_url', message: problem, durationMs: 0 })
  const url = new URL(rawUrl)
  const host = url.hostname.replace(/^\[|\]$/g, '')
  // net.connect skips `lookup` for an IP literal, so a literal is checked here; it cannot change.
  if (!opts.allowPrivateTargets && net.isIP(host) && !isPublicAddress(host)) {
    const err = new SsrfError(host, addressRange(host))
    return Promise.resolve({ kind: 'error', code: 'ssrf_refused', message: err.message, durationMs: 0 })
  }

  const send = (reuse: boolean, budgetMs: number): Promise<PostOutcome> =>
    new Promise((resolve) => {
      let settled = false
      let answered = false
      const finish = (outcome: PostOutcome) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(outcome)
      }
      const fail = (err: Error) => {
        const code = err instanceof SsrfError ? 'ssrf_refused' : err.name === 'TimeoutError' ? 'timeout' : 'network'
        finish({ kind: 'error', code, message: err.message.slice(0, 500), durationMs: elapsed() })
      }
      const agent = reuse && opts.connections ? (url.protocol === 'https:' ? opts.connections.https : opts.connections.http) : false
      const request = (url.protocol === 'https:' ? https : http).request(url, {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent,
        ...(opts.allowPrivateTargets ? {} : { lookup: guardedLookup }),
      })
      const timer = setTimeout(() => {
        const err = new Error(`no complete response within ${opts.timeoutMs} ms`)
        err.name = 'TimeoutError'
        request.destroy(err)
      }, budgetMs)
      request.on('error', (err: Error & { code?: string }) => {
        // A kept-alive connection the receiver closed while it was idle: nothing was answered, so
        // the POST goes again, once, on a connection of its own (within what is left of the time).
        if (request.reusedSocket && !answered && !settled && (err.code === 'ECONNRESET' || err.code === 'EPIPE')) {
          settled = true
          clearTimeout(timer)
          return resolve(send(false, Math.max(1, opts.timeoutMs - elapsed())))
        }
        fail(err)
      })
      request.on('response', (res) => {
        answered = true
        const chunks: Buffer[] = []
        let size = 0
        const done = () => {
          finish({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), durationMs: elapsed() })
          // Closes the connection of a body cut short; one read to its end stays reusable.
          res.destroy()
        }
        res.on('data', (chunk: Buffer) => {
          if (size >= opts.maxResponseBytes) return
          chunks.push(chunk.subarray(0, opts.maxResponseBytes - size))
          size += Math.min(chunk.length, opts.maxResponseBytes - size)
          if (size >= opts.maxResponseBytes) done()
        })
        res.on('end', done)
        res.on('error', (err) => (chunks.length ? done() : fail(err)))
        res.on('close', done)
      })
      request.end(body)
    })
  return send(true, opts.timeoutMs)
}

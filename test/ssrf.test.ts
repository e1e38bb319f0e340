import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { addressRange, guardedLookup, guardedPost, isPublicAddress, keptAliveConnections, SsrfError, urlProblem } from '../core/kernel/ssrf'

/** A receiver that counts TCP connections as well as requests: a refused target must see neither. */
async function receiver(t: Test, handler: http.RequestListener = (_req, res) => res.end('ok')) {
  const server = http.createServer(handler)
  let connections = 0
  let requests = 0
  server.on('connection', () => connections++)
  server.on('request', () => requests++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return {
    port: (server.address() as AddressInfo).port,
    seen: () => ({ connections, requests }),
    server,
  }
}

const post = (url: string, allowPrivateTargets: boolean, timeoutMs = 2000, connections?: ReturnType<typeof keptAliveConnections>) =>
  guardedPost(url, { 'content-type': 'application/json' }, '{"ok":true}', { allowPrivateTargets, timeoutMs, maxResponseBytes: 1024, connections })

function ownConnections(t: Test) {
  const c = keptAliveConnections()
  t.teardown(() => {
    c.http.destroy()
    c.https.destroy()
  })
  return c
}

t.test('address classifier: every refused range, including IPv4-mapped IPv6', async (t) => {
  const cases: [string, string][] = [
    // loopback
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    // private (RFC 1918), with the edges of 172.16/12
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    // link-local
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['febf::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    // cloud metadata
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    // CGNAT
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    // unique local
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    // multicast, broadcast, unspecified
    ['224.0.0.1', 'multicast'],
    ['239.255.255.255', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    // IPv4-mapped IPv6, dotted and hex forms: judged as the IPv4 address they carry
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:ac10:1', 'private'],
    ['::ffff:192.168.0.1', 'private'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:169.254.1.1', 'linkLocal'],
    ['::ffff:100.64.0.1', 'carrierGradeNat'],
    ['::ffff:0.0.0.0', 'unspecified'],
    ['::ffff:224.0.0.1', 'multicast'],
    // other IPv6 forms that embed IPv4
    ['::7f00:1', 'ipv4Compatible'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    // reserved / documentation
    ['192.0.2.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    // not an address at all
    ['localhost', 'invalid'],
    // public
    ['8.8.8.8', 'unicast'],
    ['1.1.1.1', 'unicast'],
    ['172.15.255.255', 'unicast'],
    ['172.32.0.1', 'unicast'],
    ['100.63.255.255', 'unicast'],
    ['100.128.0.1', 'unicast'],
    ['169.253.255.255', 'unicast'],
    ['2606:4700:4700::1111', 'unicast'],
    ['::ffff:8.8.8.8', 'unicast'],
  ]
  for (const [address, range] of cases) {
    t.equal(addressRange(address), range, `${address} is ${range}`)
    t.equal(isPublicAddress(address), range === 'unicast', `${address} ${range === 'unicast' ? 'allowed' : 'refused'}`)
  }
})

t.test('URL shape: http(s) only, bounded, no credentials', async (t) => {
  t.equal(urlProblem('https://hooks.example.com/receivables'), null)
  t.equal(urlProblem('http://hooks.example.com:8080/x?y=1'), null)
  t.match(urlProblem('ftp://example.com/'), /http or https/)
  t.match(urlProblem('file:///etc/passwd'), /http or https/)
  t.match(urlProblem('gopher://example.com/'), /http or https/)
  t.match(urlProblem('javascript:alert(1)'), /http or https/)
  t.match(urlProblem('https://user:pass@example.com/'), /credentials/)
  t.match(urlProblem('https://user@example.com/'), /credentials/)
  t.match(urlProblem('/relative/path'), /valid absolute URL/)
  t.match(urlProblem(`https://example.com/${'a'.repeat(2048)}`), /longer than 2048/)
})

t.test('connect-time lookup refuses a hostname that resolves to a private address', async (t) => {
  const err = await new Promise<Error | null>((resolve) => guardedLookup('localhost', { all: true }, (e) => resolve(e)))
  t.ok(err instanceof SsrfError, 'localhost is refused')
  t.match(err?.message, /loopback/)
})

t.test('with private targets refused, no TCP connection is made', async (t) => {
  const r = await receiver(t)
  for (const url of [
    `http://127.0.0.1:${r.port}/hook`,
    `http://localhost:${r.port}/hook`, // resolved by the guarded lookup
    `http://[::ffff:127.0.0.1]:${r.port}/hook`,
    `http://[::ffff:7f00:1]:${r.port}/hook`,
    `http://0x7f.1:${r.port}/hook`, // the URL parser normalizes it to 127.0.0.1
    `http://2130706433:${r.port}/hook`,
    `http://169.254.169.254/latest/meta-data/`,
    `http://[fd00:ec2::254]/latest/meta-data/`,
    `http://10.0.0.1/hook`,
    `http://100.64.0.1/hook`,
  ]) {
    const outcome = await post(url, false)
    t.equal(outcome.kind, 'error', url)
    if (outcome.kind === 'error') {
      t.equal(outcome.code, 'ssrf_refused', `${url}: ${outcome.message}`)
    }
  }
  t.strictSame(r.seen(), { connections: 0, requests: 0 }, 'the receiver saw no connection')
})

t.test('non-http schemes are refused before any connection', async (t) => {
  const outcome = await post('file:///etc/passwd', true)
  t.match(outcome, { kind: 'error', code: 'invalid_url' })
})

t.test('with private targets allowed (development), the request goes through', async (t) => {
  const r = await receiver(t, (req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`got ${body}${'x'.repeat(5000)}`))
  })
  const outcome = await post(`http://localhost:${r.port}/hook`, true)
  t.equal(outcome.kind, 'response')
  if (outcome.kind === 'response') {
    t.equal(outcome.status, 200)
    t.equal(outcome.body.length, 1024, 'the response excerpt is capped at 1 KB')
    t.ok(outcome.body.startsWith('got {"ok":true}'))
  }
})

t.test('redirects are not followed', async (t) => {
  let redirected = 0
  const target = await receiver(t, (_req, res) => {
    redirected++
    res.end('ok')
  })
  const r = await receiver(t, (_req, res) => res.writeHead(302, { location: `http://127.0.0.1:${target.port}/` }).end())
  const outcome = await post(`http://127.0.0.1:${r.port}/hook`, true)
  t.match(outcome, { kind: 'response', status: 302 })
  t.equal(redirected, 0, 'the Location was never requested')
})

t.test('an attempt that gets no response within the timeout fails as a timeout', async (t) => {
  const r = await receiver(t, () => {
    /* never answers */
  })
  const started = Date.now()
  const outcome = await post(`http://127.0.0.1:${r.port}/hook`, true, 300)
  const took = Date.now() - started
  t.match(outcome, { kind: 'error', code: 'timeout' })
  t.ok(took >= 290 && took < 2000, `gave up after ${took} ms`)
  r.server.closeAllConnections()
})

t.test('kept-alive connections: still refused before any connection when the target is private', async (t) => {
  const r = await receiver(t)
  const c = ownConnections(t)
  for (const url of [`http://127.0.0.1:${r.port}/hook`, `http://localhost:${r.port}/hook`]) {
    t.match(await post(url, false, 2000, c), { kind: 'error', code: 'ssrf_refused' }, url)
  }
  t.strictSame(r.seen(), { connections: 0, requests: 0 })
})

t.test('kept-alive connections: POSTs to one receiver share a connection; a body cut short closes its own', async (t) => {
  const r = await receiver(t, (req, res) => {
    req.resume()
    req.on('end', () => res.end(req.url === '/big' ? 'x'.repeat(100_000) : 'ok'))
  })
  const c = ownConnections(t)
  for (let i = 0; i < 5; i++) t.match(await post(`http://127.0.0.1:${r.port}/hook`, true, 2000, c), { kind: 'response', status: 200, body: 'ok' })
  t.strictSame(r.seen(), { connections: 1, requests: 5 }, 'five POSTs, one connection')
  t.match(await post(`http://127.0.0.1:${r.port}/big`, true, 2000, c), { kind: 'response', status: 200, body: 'x'.repeat(1024) })
  t.match(await post(`http://127.0.0.1:${r.port}/hook`, true, 2000, c), { kind: 'response', status: 200 })
  t.strictSame(r.seen(), { connections: 2, requests: 7 }, 'the connection whose answer was cut short was not reused')
  r.server.closeAllConnections()
})

t.test('kept-alive connections: one the receiver drops as it is reused is retried once, on a fresh connection', async (t) => {
  // The receiver answers the first request of a connection and drops the connection at the second
  // (a receiver that closed an idle connection just as it was reused).
  const perSocket = new WeakMap<object, number>()
  const r = await receiver(t, (req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1
    perSocket.set(req.socket, n)
    if (n > 1) return req.socket.destroy()
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  const c = ownConnections(t)
  t.match(await post(`http://127.0.0.1:${r.port}/hook`, true, 2000, c), { kind: 'response', status: 200 })
  t.match(await post(`http://127.0.0.1:${r.port}/hook`, true, 2000, c), { kind: 'response', status: 200 }, 'answered on the retry')
  t.strictSame(r.seen(), { connections: 2, requests: 3 }, 'the dropped request went again, once, on a new connection')

  // A connection dropped at its first request was not reused: that failure is the attempt's own.
  const rude = await receiver(t, (req) => req.socket.destroy())
  t.match(await post(`http://127.0.0.1:${rude.port}/hook`, true, 2000, c), { kind: 'error', code: 'network' })
  t.strictSame(rude.seen(), { connections: 1, requests: 1 }, 'not retried')
  r.server.closeAllConnections()
})

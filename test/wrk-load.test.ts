import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { closedLoad, DUE, pacedLoad } from '../scripts/wrk-load'

/**
 * The bench's load generator (scripts/wrk-load.ts, wrk with a Lua script) against a local server
 * whose answers are known: statuses are counted, and the evenly paced load counts latency from
 * when each request was due, so requests that waited for a connection during a stall show the wait.
 */

execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'ensure-wrk.sh')], { stdio: 'inherit' })

async function serve(t: Test, handle: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<number> {
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => handle(req, res, body))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(() => new Promise<void>((r) => server.close(() => r())))
  return (server.address() as AddressInfo).port
}

t.test('closed loop: answers counted by status, bodies sent in turn', async (t) => {
  const seen = new Set<string>()
  let n = 0
  const port = await serve(t, (req, res, body) => {
    seen.add(body)
    const status = ++n % 10 === 0 ? 500 : 201
    setTimeout(() => res.writeHead(status, { 'content-type': 'application/json' }).end('{}'), 2)
  })
  const r = await closedLoad({ port, path: '/v1/x', headers: { 'content-type': 'application/json' }, bodies: ['{"a":1}', '{"b":2}', '{"c":3}'], connections: 4, seconds: 1 })
  t.ok(r.ok > 50, `answers in a second: ${r.ok}`)
  t.ok(r.non2xx >= Math.floor((r.ok + r.non2xx) / 10) - 2 && r.non2xx <= Math.ceil((r.ok + r.non2xx) / 10) + 2, `a tenth non-2xx: ${r.non2xx} of ${r.ok + r.non2xx}`)
  t.equal(r.errors, 0)
  t.same([...seen].sort(), ['{"a":1}', '{"b":2}', '{"c":3}'], 'every body sent')
  t.ok(r.p50 >= 2, `latency at least the server's 2 ms: ${r.p50}`)
  t.ok(r.cpuMicros > 0, 'the load generator CPU is read')
})

t.test('paced load: latency counts from when each request was due, a stall included', async (t) => {
  // Answers at once, except that everything arriving in [500, 800) ms after the first request is
  // held until 800 ms. 200 requests/s over 8 connections: 60 requests fall due during the stall,
  // the 8 sent at its start wait on their connections and the others wait for a connection; each
  // one's latency must include its wait from when it was due.
  let first = 0
  const port = await serve(t, (_req, res, body) => {
    const now = Date.now()
    if (!first) first = now
    const memo = (JSON.parse(body) as { memo: string }).memo
    const answer = () => res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id: 'x', memo }))
    const at = now - first
    if (at >= 500 && at < 800) setTimeout(answer, 800 - at)
    else answer()
  })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wrk-load-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const timelineFile = path.join(dir, 'timeline.csv')
  const r = await pacedLoad({
    port, path: '/v1/x', headers: { 'content-type': 'application/json' }, connections: 8, rate: 200, seconds: 2, timelineFile,
    bodies: [`{"memo":"bench due ${DUE}","a":1}`, `{"memo":"bench due ${DUE}","b":2}`],
  })
  t.equal(r.offered, 400)
  t.equal(r.ok, 400, 'every request answered')
  t.equal(r.unanswered, 0)
  t.equal(r.non2xx, 0)
  t.ok(r.late > 30, `requests sent late, every connection held by the stall: ${r.late}`)
  t.ok(r.max >= 250, `the longest wait is most of the stall: ${r.max} ms`)
  t.ok(r.p50 < 20, `most answers are immediate: p50 ${r.p50} ms`)
  const rows = fs.readFileSync(timelineFile, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number))
  t.equal(rows.length, 400, 'the timeline has every answer')
  // Sent late, they were answered at once; counted from when they were sent, only the 8 held on
  // their connections would be slow.
  const slow = rows.filter(([, latency]) => latency >= 100).length
  t.ok(slow >= 30, `answers at least 100 ms after they were due: ${slow}`)
  const dues = rows.map(([due]) => due).sort((a, b) => a - b)
  t.ok(Math.abs(dues[dues.length - 1] - dues[0] - 1995) < 5, `due over two seconds, evenly: ${dues[dues.length - 1] - dues[0]} ms`)
})

t.test('paced load refuses a body without its due-time mark', async (t) => {
  await t.rejects(pacedLoad({ port: 1, path: '/', headers: {}, connections: 1, rate: 1, seconds: 1, bodies: ['{}'] }), /holds @DUE@ once/)
})

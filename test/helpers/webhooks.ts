import http from 'node:http'
import type { AddressInfo } from 'node:net'
import pino from 'pino'
import type { Test } from 'tap'
import { workerRegistry } from '../../core/jobs/registry'
import { startWorker, type Worker } from '../../core/jobs/worker'
import type { DeliverySettings } from '../../core/webhooks/delivery'
import type { TestEnv } from './app'

export interface Received {
  headers: Record<string, string>
  body: string
  at: number
}

export interface Reply {
  status: number
  headers?: Record<string, string>
  body?: string
}

export interface Receiver {
  url: string
  port: number
  requests: Received[]
  /** TCP connections accepted, whether or not a request followed. */
  connections(): number
  /** How to answer the n-th request (0-based). */
  respond: (n: number, req: Received) => Reply
}

/** A real HTTP receiver on 127.0.0.1 with a random port, closed with the test. */
export async function startReceiver(t: Test, respond: Receiver['respond'] = () => ({ status: 200 })): Promise<Receiver> {
  let connections = 0
  const receiver: Receiver = { url: '', port: 0, requests: [], connections: () => connections, respond }
  const server = http.createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => (body += c))
    req.on('end', () => {
      const headers: Record<string, string> = {}
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v
      const received = { headers, body, at: Date.now() }
      const reply = receiver.respond(receiver.requests.length, received)
      receiver.requests.push(received)
      res.writeHead(reply.status, { 'content-type': 'text/plain', ...reply.headers }).end(reply.body ?? '')
    })
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  receiver.port = (server.address() as AddressInfo).port
  receiver.url = `http://127.0.0.1:${receiver.port}/hooks`
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  )
  return receiver
}

/**
 * The real worker (relay, dispatch, delivery jobs) in this process, stopped with the test. Run it
 * in a subtest of the one that set up the env, so it stops before the database is dropped.
 * `webhooks`: delivery settings beyond the config's (e.g. a retry schedule in milliseconds).
 */
export async function startTestWorker(t: Test, env: TestEnv, webhooks: Partial<DeliverySettings> = {}): Promise<Worker> {
  const worker = await startWorker({
    config: env.config,
    db: env.db,
    registry: workerRegistry(env.config, { webhooks }),
    log: pino({ level: 'silent' }),
    options: { closeGraceMs: 2000, stalledIntervalMs: 5000, lockDurationMs: 5000, schedules: false },
  })
  t.teardown(() => worker.close())
  return worker
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

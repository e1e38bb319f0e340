/**
 * Open-loop load at a steady rate, for latency below saturation (ARCHITECTURE §12: p99 < 50 ms at
 * 80 % of peak). autocannon's `overallRate` is not that: each connection sends back-to-back until
 * it has made its share of the second's requests, then waits for the next second
 * (autocannon/lib/httpClient.js, `reqsMadeThisSecond`), so "80 % of peak" there is the peak rate
 * for 80 % of every second and idle the rest, and its latencies are those of saturation. Its
 * percentiles are lower than the answers' too: each answer is recorded with a coordinated-omission
 * correction whose expected interval is `Math.ceil(1 / rate)` = 1 ms (autocannon/lib/run.js), which
 * adds a sample for every millisecond below it.
 *
 * Here request k is due at start + k / rate, whatever the answers to earlier ones: requests are
 * spaced evenly, as independent clients arrive. A request waits for a free connection when all
 * `connections` are busy, and its latency counts from when it was due (not from when it could be
 * sent), so a service that falls behind shows it in the percentiles instead of slowing the load.
 */
import http from 'node:http'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'

/** POSTs of `body()` to `path`. */
export interface PacedOptions {
  port: number
  path: string
  headers: Record<string, string>
  /** The next request's body (called once per request). */
  body: () => string
  /** Requests per second. */
  rate: number
  seconds: number
  connections: number
  /** Called with each 2xx answer: when it was due (epoch ms) and its latency (ms). */
  onAnswer?: (dueMs: number, latencyMs: number) => void
}

export interface PacedResult {
  offered: number
  ok: number
  non2xx: number
  errors: number
  /** 2xx answers per second of the run. */
  rate: number
  /** Latency of the 2xx answers in ms, from when each request was due. */
  p50: number
  p99: number
  max: number
  /** Most requests outstanding at once: sent or waiting for a free connection, not yet answered. */
  maxInFlight: number
  /** The load's own event-loop delay (ms): when it is behind, so are its requests' send times. */
  clientLoop: { p99: number; max: number }
}

/** The q-quantile (0 < q ≤ 1) of ascending `sorted`: the smallest value at or above a q share. */
function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)] : 0
}

export async function pacedLoad(o: PacedOptions): Promise<PacedResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections })
  const total = Math.floor(o.rate * o.seconds)
  const interval = 1000 / o.rate
  const latencies: number[] = []
  let ok = 0
  let non2xx = 0
  let errors = 0
  let inFlight = 0
  let maxInFlight = 0
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const start = performance.now()
  await new Promise<void>((resolve) => {
    let sent = 0
    let answered = 0
    const send = (due: number) => {
      // Each request is counted once: by its answer's end, or by the first error of the request or
      // of an answer cut short (which may never end).
      let counted = false
      const count = (outcome: 'ok' | 'non2xx' | 'error') => {
        if (counted) return
        counted = true
        inFlight--
        if (outcome === 'ok') {
          ok++
          const latency = performance.now() - due
          latencies.push(latency)
          o.onAnswer?.(performance.timeOrigin + due, latency)
        } else if (outcome === 'non2xx') non2xx++
        else errors++
        if (++answered === total) resolve()
      }
      const body = o.body()
      maxInFlight = Math.max(maxInFlight, ++inFlight)
      const req = http.request(
        { agent, host: '127.0.0.1', port: o.port, method: 'POST', path: o.path, headers: { ...o.headers, 'content-length': String(Buffer.byteLength(body)) } },
        (res) => {
          res.resume()
          res.on('end', () => count(res.statusCode !== undefined && res.statusCode < 300 ? 'ok' : 'non2xx'))
          res.on('error', () => count('error'))
        },
      )
      req.on('error', () => count('error'))
      req.end(body)
    }
    // Timers fire late by a millisecond or more: each tick sends every request already due.
    const tick = () => {
      const now = performance.now()
      while (sent < total && start + sent * interval <= now) send(start + sent++ * interval)
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
    }
    if (total === 0) resolve()
    else tick()
  })
  loop.disable()
  agent.destroy()
  latencies.sort((a, b) => a - b)
  const round = (ms: number) => Math.round(ms * 10) / 10
  return { offered: total, ok, non2xx, errors, rate: ok / o.seconds, p50: round(quantile(latencies, 0.5)), p99: round(quantile(latencies, 0.99)), max: round(quantile(latencies, 1)), maxInFlight, clientLoop: { p99: round(loop.percentile(99) / 1e6), max: round(loop.max / 1e6) } }
}

/**
 * A closed-loop load (each connection sends its next request when the last one is answered) made by
 * `wrk` (scripts/ensure-wrk.sh installs it): a load generator in C, as pgbench's client is, so that
 * it takes little of the two cores it shares with the service and Postgres (autocannon, in the
 * bench's own Node process, took 50–80 µs of CPU per invoice, and 260–290 µs on a slow day).
 *
 * The request bodies are given as a list; each wrk thread sends them in turn. A Lua script counts
 * the answers by status and prints them with wrk's latency percentiles as one JSON line; the
 * load generator's CPU is read with bash's `times` after wrk exits.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export interface ClosedLoadOptions {
  port: number
  path: string
  method?: 'POST'
  headers: Record<string, string>
  /** Sent in turn by each thread. */
  bodies: string[]
  connections: number
  seconds: number
  /** wrk threads (default 2: the machine's cores). */
  threads?: number
}

export interface ClosedLoadResult {
  ok: number
  non2xx: number
  /** Connect, read, write errors and timeouts. */
  errors: number
  /** Seconds wrk ran. */
  duration: number
  /** Answers per second (2xx). */
  rate: number
  p50: number
  p99: number
  /** The load generator's own CPU time (user + system), microseconds. */
  cpuMicros: number
}

const MARK = 'CLOSED_LOAD_RESULT '

/** A Lua long string that cannot be closed by the text inside it. */
function luaString(s: string): string {
  let eq = '='
  while (s.includes(`]${eq}]`)) eq += '='
  return `[${eq}[${s}]${eq}]`
}

function script(opts: ClosedLoadOptions): string {
  const headers = Object.entries(opts.headers)
    .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`)
    .join('\n')
  return `
wrk.method = ${luaString(opts.method ?? 'POST')}
${headers}
local bodies = { ${opts.bodies.map(luaString).join(',\n')} }
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; ok = 0; non2xx = 0 end
function request()
  n = n + 1
  return wrk.format(nil, ${luaString(opts.path)}, nil, bodies[(n - 1) % #bodies + 1])
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else non2xx = non2xx + 1 end
end
function done(summary, latency, requests)
  local ok, non2xx = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok"); non2xx = non2xx + t:get("non2xx") end
  local e = summary.errors
  io.write(string.format('${MARK}{"ok":%d,"non2xx":%d,"errors":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d}\\n',
    ok, non2xx, e.connect + e.read + e.write + e.timeout, summary.duration, latency:percentile(50), latency:percentile(99)))
end
`
}

/** Children's CPU from bash's `times` (second line: "XmY.YYYs XmY.YYYs", user then system). */
function childCpuMicros(out: string): number {
  const lines = out.trim().split('\n')
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(lines[lines.length - 1])
  if (!m) throw new Error(`cannot read the load generator's CPU from:\n${out}`)
  return 1e6 * (60 * Number(m[1]) + Number(m[2]) + 60 * Number(m[3]) + Number(m[4]))
}

export async function closedLoad(opts: ClosedLoadOptions): Promise<ClosedLoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'closed-load-'))
  try {
    const file = path.join(dir, 'load.lua')
    writeFileSync(file, script(opts))
    const args = ['-t', String(opts.threads ?? 2), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '30s', '-s', file, `http://127.0.0.1:${opts.port}`]
    const { out, err } = await new Promise<{ out: string; err: string }>((resolve, reject) =>
      execFile('bash', ['-c', 'wrk "$@" || exit $?; times', 'wrk', ...args], { maxBuffer: 1 << 20 }, (error, out, err) =>
        error ? reject(new Error(`wrk failed: ${error.message}\n${err}`)) : resolve({ out, err }),
      ),
    )
    const line = out.split('\n').find((l) => l.startsWith(MARK))
    if (!line) throw new Error(`cannot read wrk's result (a Lua error?) from:\n${out}\n${err}`)
    const r = JSON.parse(line.slice(MARK.length)) as { ok: number; non2xx: number; errors: number; duration_us: number; p50_us: number; p99_us: number }
    const duration = r.duration_us / 1e6
    return {
      ok: r.ok,
      non2xx: r.non2xx,
      errors: r.errors,
      duration,
      rate: r.ok / duration,
      p50: Math.round(r.p50_us / 100) / 10,
      p99: Math.round(r.p99_us / 100) / 10,
      cpuMicros: childCpuMicros(out),
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

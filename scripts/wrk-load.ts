/**
 * The bench's loads, made by `wrk` (scripts/ensure-wrk.sh installs it): a load generator in C, as
 * pgbench's client is, so that it takes little of the two cores it shares with the service and
 * Postgres (autocannon and ./paced-load.ts, in the bench's own Node process, took 50–80 µs of CPU
 * per invoice, and 150–290 µs on a slow day; wrk 45–60 µs on that day).
 *
 * - closedLoad: a closed loop (each connection sends its next request when its last one is
 *   answered), for the peak rate.
 * - pacedLoad: an open loop at a steady rate, for latency below saturation (ARCHITECTURE §12), with
 *   ./paced-load.ts's rules: request k is due at start + k / rate whatever the answers to earlier
 *   ones, waits for a free connection when all are busy, and its latency counts from when it was
 *   due. wrk measures latency from when a request is sent, so the script writes each request's due
 *   time into its body (the invoice's memo, `bench due <µs>`), reads it back from the answer and
 *   measures from it. wrk schedules with `delay()` (millisecond timers, rounded up: a request is
 *   sent up to a millisecond after it is due, never before).
 *
 * A Lua script counts the answers by status and prints the figures as one JSON line; the load
 * generator's CPU is read with bash's `times` after wrk exits.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

interface Common {
  port: number
  path: string
  headers: Record<string, string>
  connections: number
  /** wrk threads (default 2: the machine's cores). */
  threads?: number
}

export interface ClosedLoadOptions extends Common {
  /** Sent in turn by each thread. */
  bodies: string[]
  seconds: number
}

export interface ClosedLoadResult {
  ok: number
  non2xx: number
  /** Connect, read, write errors and timeouts. */
  errors: number
  /** Seconds wrk ran. */
  duration: number
  p50: number
  p99: number
  /** The load generator's own CPU time (user + system), microseconds. */
  cpuMicros: number
}

/** Marks where a paced request's due time goes in its body. */
export const DUE = '@DUE@'

export interface PacedLoadOptions extends Common {
  /** Bodies sent in turn, each holding DUE once, inside the string the answer echoes (the memo). */
  bodies: string[]
  /** Requests per second. */
  rate: number
  seconds: number
  /** A CSV of every 2xx answer: when it was due (epoch ms) and its latency (ms). */
  timelineFile?: string
}

export interface PacedLoadResult {
  offered: number
  ok: number
  non2xx: number
  errors: number
  /** Requests offered and never answered before wrk stopped (counted in no percentile). */
  unanswered: number
  /** 2xx answers per second of the load. */
  rate: number
  /** Latency of the 2xx answers in ms, from when each request was due. */
  p50: number
  p99: number
  max: number
  /** Requests sent more than a millisecond after they were due (every connection was busy), and the latest (ms). */
  late: number
  latest: number
  cpuMicros: number
}

const MARK = 'WRK_LOAD_RESULT '

/** A Lua long string that cannot be closed by the text inside it. */
function luaString(s: string): string {
  let eq = '='
  while (s.includes(`]${eq}]`)) eq += '='
  return `[${eq}[${s}]${eq}]`
}

function preamble(o: Common): string {
  const headers = Object.entries(o.headers)
    .map(([k, v]) => `wrk.headers[ ${luaString(k)} ] = ${luaString(v)}`)
    .join('\n')
  return `wrk.method = "POST"\n${headers}\nlocal PATH = ${luaString(o.path)}\nlocal threads = {}\nfunction setup(thread) thread:set("id", #threads); table.insert(threads, thread) end\n`
}

function closedScript(o: ClosedLoadOptions): string {
  return `${preamble(o)}
local bodies = { ${o.bodies.map(luaString).join(',\n')} }
function init(args) n = 0; ok = 0; non2xx = 0 end
function request()
  n = n + 1
  return wrk.format(nil, PATH, nil, bodies[(n - 1) % #bodies + 1])
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

function pacedScript(o: PacedLoadOptions, total: number, timeline: string): string {
  const threads = o.threads ?? 2
  return `${preamble(o)}
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } wrk_load_timespec; int clock_gettime(int clk, wrk_load_timespec *tp); ]]
local ts = ffi.new("wrk_load_timespec")
-- Wall-clock microseconds (CLOCK_REALTIME): the same clock in every thread and in the timeline.
local function now_us() ffi.C.clock_gettime(0, ts); return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000) end
local RATE, TOTAL, THREADS = ${o.rate}, ${total}, ${threads}
local parts = {}
for _, b in ipairs({ ${o.bodies.map(luaString).join(',\n')} }) do
  local i, j = b:find(${luaString(DUE)}, 1, true)
  table.insert(parts, { b:sub(1, i - 1), b:sub(j + 1) })
end
-- One start for every thread, set by setup() (thread:set) before the threads run.
START = now_us() + 200000
local setup0 = setup
function setup(thread) setup0(thread); thread:set("start", START) end
-- Thread t sends requests t, t + THREADS, t + 2 THREADS, ... of the schedule. delay() promises a
-- connection the next slot and waits until it is due; request() takes slots in the same order
-- (timers fire in due order; late ones at once, in turn).
local function due_of(k) return start + math.floor((id + k * THREADS) * 1000000 / RATE) end
function init(args) promised = 0; taken = 0; ok = 0; non2xx = 0; late = 0; latest = 0; lat = {}; dues = {} end
function delay()
  if id + promised * THREADS >= TOTAL then return 3600000 end
  local wait = due_of(promised) - now_us()
  promised = promised + 1
  if wait >= 0 then return math.ceil(wait / 1000) end
  if -wait > 1000 then late = late + 1 end
  if -wait > latest then latest = -wait end
  return 0
end
function request()
  local due = due_of(taken)
  local p = parts[taken % #parts + 1]
  taken = taken + 1
  return wrk.format(nil, PATH, nil, p[1] .. string.format("%.0f", due) .. p[2])
end
function response(status, headers, body)
  if status < 200 or status >= 300 then non2xx = non2xx + 1; return end
  local due = tonumber(body:match("bench due (%d+)"))
  if not due then non2xx = non2xx + 1; return end
  ok = ok + 1
  lat[ok] = now_us() - due
  dues[ok] = due
end
function done(summary, latency, requests)
  local all, ok, non2xx, late, latest = {}, 0, 0, 0, 0
  local csv = ${timeline ? `io.open(${luaString(timeline)}, "w")` : 'nil'}
  if csv then csv:write("due_epoch_ms,latency_ms\\n") end
  for _, t in ipairs(threads) do
    local l, d = t:get("lat"), t:get("dues")
    for i = 1, #l do
      all[#all + 1] = l[i]
      if csv then csv:write(string.format("%.1f,%.1f\\n", d[i] / 1000, l[i] / 1000)) end
    end
    ok = ok + t:get("ok"); non2xx = non2xx + t:get("non2xx"); late = late + t:get("late")
    latest = math.max(latest, t:get("latest"))
  end
  if csv then csv:close() end
  table.sort(all)
  local function q(p) if #all == 0 then return 0 end return all[math.max(1, math.ceil(p * #all))] end
  local e = summary.errors
  io.write(string.format('${MARK}{"ok":%d,"non2xx":%d,"errors":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"late":%d,"latest_us":%d}\\n',
    ok, non2xx, e.connect + e.read + e.write + e.timeout, q(0.5), q(0.99), q(1), late, latest))
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

/** Runs wrk with `script` for `seconds`; its result line (parsed) and its CPU. */
async function runWrk(o: Common, script: string, seconds: number): Promise<{ r: Record<string, number>; cpuMicros: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'wrk-load-'))
  try {
    const file = path.join(dir, 'load.lua')
    writeFileSync(file, script)
    const args = ['-t', String(o.threads ?? 2), '-c', String(o.connections), '-d', `${seconds}s`, '--timeout', '30s', '-s', file, `http://127.0.0.1:${o.port}`]
    const { out, err } = await new Promise<{ out: string; err: string }>((resolve, reject) =>
      execFile('bash', ['-c', 'wrk "$@" || exit $?; times', 'wrk', ...args], { maxBuffer: 1 << 20 }, (error, out, err) =>
        error ? reject(new Error(`wrk failed: ${error.message}\n${err}`)) : resolve({ out, err }),
      ),
    )
    const line = out.split('\n').find((l) => l.startsWith(MARK))
    if (!line) throw new Error(`cannot read wrk's result (a Lua error?) from:\n${out}\n${err}`)
    return { r: JSON.parse(line.slice(MARK.length)), cpuMicros: childCpuMicros(out) }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const ms = (us: number) => Math.round(us / 100) / 10

export async function closedLoad(o: ClosedLoadOptions): Promise<ClosedLoadResult> {
  const { r, cpuMicros } = await runWrk(o, closedScript(o), o.seconds)
  return { ok: r.ok, non2xx: r.non2xx, errors: r.errors, duration: r.duration_us / 1e6, p50: ms(r.p50_us), p99: ms(r.p99_us), cpuMicros }
}

/** Seconds wrk keeps running after the last request is due, for the answers still on their way. */
const PACED_GRACE_SECONDS = 5

export async function pacedLoad(o: PacedLoadOptions): Promise<PacedLoadResult> {
  for (const b of o.bodies) if (b.split(DUE).length !== 2) throw new Error(`pacedLoad: every body holds ${DUE} once`)
  const total = Math.floor(o.rate * o.seconds)
  const { r, cpuMicros } = await runWrk(o, pacedScript(o, total, o.timelineFile ?? ''), o.seconds + PACED_GRACE_SECONDS)
  return {
    offered: total,
    ok: r.ok,
    non2xx: r.non2xx,
    errors: r.errors,
    unanswered: Math.max(0, total - r.ok - r.non2xx - r.errors),
    rate: r.ok / o.seconds,
    p50: ms(r.p50_us),
    p99: ms(r.p99_us),
    max: ms(r.max_us),
    late: r.late,
    latest: ms(r.latest_us),
    cpuMicros,
  }
}

import { execFile, spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Test } from 'tap'

/**
 * Real processes for the fault tests (test/faults.test.ts): the service (`core/main.ts api`), the
 * test worker (test/helpers/worker-process.ts), a private PostgreSQL cluster and a private Redis,
 * each of them this file's alone, so killing or restarting them never disturbs the shared
 * services that other test files use in parallel. Everything started here is killed with the test
 * (and, should the test process itself die, at its exit).
 */

const run = promisify(execFile)
const ROOT = path.join(__dirname, '..', '..')
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Children still running, killed at exit whatever happens to the test. */
const children = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
})

/** A TCP port free right now on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer()
    s.unref()
    s.on('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo
      s.close(() => resolve(port))
    })
  })
}

/** Polls `probe` until it returns something truthy; fails (never hangs) after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 20000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export interface Proc {
  child: ChildProcess
  pid: number
  /** The last few kilobytes of its stdout and stderr, for failure messages. */
  output(): string
  exited: Promise<void>
  alive(): boolean
  /** SIGKILL, and wait for the exit. */
  kill9(): Promise<void>
}

/** Spawns a process; it is SIGKILLed with the test if still running. */
export function spawnProcess(t: Test, command: string, args: string[], env: Record<string, string>): Proc {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  children.add(child)
  let out = ''
  const keep = (b: Buffer) => {
    out = (out + b.toString()).slice(-200000)
  }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  void exited.then(() => children.delete(child))
  const alive = () => child.exitCode === null && child.signalCode === null
  const proc: Proc = {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    alive,
    async kill9() {
      if (alive()) child.kill('SIGKILL')
      await exited
    },
  }
  t.teardown(() => proc.kill9())
  return proc
}

/** `node --import tsx <script> <args>` from the repository root. */
export function spawnNode(t: Test, script: string, args: string[], env: Record<string, string>): Proc {
  return spawnProcess(t, process.execPath, ['--import', 'tsx', script, ...args], env)
}

// ---- HTTP against a spawned service -------------------------------------------------------------

export interface HttpAnswer {
  /** null: no HTTP answer at all (connection refused or reset, timeout). */
  status: number | null
  body: any
  headers: Record<string, string>
  error?: string
}

/** One request over real HTTP (undici); a transport failure is an answer with status null. */
export async function http(base: string, method: string, url: string, opts: { key?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpAnswer> {
  try {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: {
        ...(opts.key ? { authorization: `Bearer ${opts.key}` } : {}),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...opts.headers,
      },
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15000),
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = JSON.parse(text)
    } catch {
      /* not JSON */
    }
    return { status: res.status, body, headers: Object.fromEntries(res.headers.entries()) }
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } }
    return { status: null, body: null, headers: {}, error: e.cause?.code ?? e.cause?.message ?? e.message }
  }
}

/** Waits until `GET base/ready` answers 200 (the process also must still be running). */
export async function waitReady(base: string, proc: Proc, timeoutMs = 90_000): Promise<void> {
  await until(
    `${base}/ready`,
    async () => {
      if (!proc.alive()) throw new Error(`the process exited before it was ready:\n${proc.output()}`)
      return (await http(base, 'GET', '/ready', { timeoutMs: 2000 })).status === 200
    },
    timeoutMs,
    100,
  )
}

// ---- a private PostgreSQL cluster ---------------------------------------------------------------

export interface PrivatePostgres {
  port: number
  /** Superuser URL of `database` on this cluster. */
  url(database: string): string
  /** Immediate shutdown: the postmaster and every backend end at once (what a crash looks like to clients). */
  stop(): Promise<void>
  start(): Promise<void>
  /**
   * SIGSTOP the postmaster and every backend: connections stay open and queries on them never
   * answer (a frozen server, or a network partition); `thaw` lets them go on.
   */
  freeze(): Promise<void>
  thaw(): Promise<void>
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) if (fs.existsSync(path.join(root, v, 'bin', 'initdb'))) return path.join(root, v, 'bin')
  throw new Error(`no PostgreSQL binaries under ${root}`)
}

/**
 * initdb a cluster in a temporary directory (trust authentication, loopback and a socket in that
 * directory only, fsync off: an immediate shutdown is a process crash, not a power cut, so the
 * page cache keeps what was written) and start it on a free port. As root, the cluster's
 * commands run as the `postgres` user (initdb refuses root). Stopped and removed with the test.
 * `conf`: more postgresql.conf lines.
 */
export async function privatePostgres(t: Test, conf: string[] = []): Promise<PrivatePostgres> {
  const bin = postgresBin()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recv-faults-pg-'))
  const data = path.join(dir, 'data')
  const asRoot = process.getuid?.() === 0
  const pg = async (tool: string, args: string[]) => {
    const cmd = path.join(bin, tool)
    return asRoot ? run('runuser', ['-u', 'postgres', '--', cmd, ...args], { cwd: dir }) : run(cmd, args, { cwd: dir })
  }
  if (asRoot) {
    const uid = Number((await run('id', ['-u', 'postgres'])).stdout.trim())
    const gid = Number((await run('id', ['-g', 'postgres'])).stdout.trim())
    fs.chownSync(dir, uid, gid)
  }
  let started = false
  let frozen: number[] = []
  t.teardown(async () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT')
      } catch {
        /* gone */
      }
    }
    if (started) await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']).catch(() => undefined)
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const port = await freePort()
  await pg('initdb', ['-D', data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8', '--no-sync', '--locale=C'])
  fs.appendFileSync(
    path.join(data, 'postgresql.conf'),
    [`port = ${port}`, `listen_addresses = '127.0.0.1'`, `unix_socket_directories = '${dir}'`, 'fsync = off', 'max_connections = 60', 'shared_buffers = 32MB', ...conf, ''].join('\n'),
  )
  const start = async () => {
    await pg('pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '30', 'start'])
    started = true
  }
  await start()
  const signalAll = async (signal: NodeJS.Signals) => {
    const postmaster = Number(fs.readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(postmaster)]).catch(() => ({ stdout: '' }))
    const pids = [postmaster, ...stdout.split(/\s+/).filter(Boolean).map(Number)]
    for (const pid of pids) process.kill(pid, signal)
    return pids
  }
  return {
    port,
    url: (database) => `postgres://postgres@127.0.0.1:${port}/${database}`,
    stop: async () => void (await pg('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])),
    start,
    async freeze() {
      frozen = await signalAll('SIGSTOP')
    },
    async thaw() {
      for (const pid of frozen) process.kill(pid, 'SIGCONT')
      frozen = []
    },
  }
}

// ---- a private Redis ----------------------------------------------------------------------------

export interface PrivateRedis {
  port: number
  url: string
  /** SIGKILL: with no persistence, every key (every queued job) is gone. */
  kill9(): Promise<void>
  /** Starts it again on the same port, empty. */
  start(): Promise<void>
}

/** A redis-server of this test alone on a free port, without persistence. */
export async function privateRedis(t: Test): Promise<PrivateRedis> {
  const port = await freePort()
  let proc: Proc | null = null
  const start = async () => {
    proc = spawnProcess(t, 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {})
    const p = proc
    await until(`redis on ${port}`, async () => {
      if (!p.alive()) throw new Error(`redis-server exited:\n${p.output()}`)
      return new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1')
        s.on('connect', () => {
          s.write('PING\r\n')
        })
        s.on('data', (b) => {
          s.destroy()
          resolve(b.toString().startsWith('+PONG'))
        })
        s.on('error', () => resolve(false))
      })
    })
  }
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, kill9: () => proc!.kill9(), start }
}

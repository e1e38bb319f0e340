import path from 'node:path'
import { pathToFileURL } from 'node:url'
import Piscina from 'piscina'
import { AppError } from '../errors'
import type { ContainedTask, ModuleShape } from './contained-worker'

/**
 * Containment (PLUGINS.md): partner plugin code and JSON-logic rules never run on the event loop
 * that serves requests. They run in a pool of worker threads (piscina) with a time budget per call
 * and a heap limit per thread; a call that exceeds either has its thread terminated (piscina starts
 * a fresh one) and fails with `plugin_failed`, so a busy loop or a runaway allocation costs one
 * request or job, never the process.
 *
 * The pool is a handle made at start-up (core/main.ts, or the app builder when it is given none)
 * and closed at shutdown; importing this module starts nothing.
 *
 *   const pool = createContainedPool({ timeoutMs: 250, heapMb: 64 })
 *   const ok = await pool.runContained<boolean>({ module: '/abs/rules.ts', fn: 'evaluate', args: [rule, facts] })
 *
 * Any pure module works: arguments and the result cross by structured clone (JSON-like data; no
 * functions). `fn` names an exported function or `export.method`.
 */

export interface ContainedPoolOptions {
  /** Time budget of one call, from the moment the function is entered. Default 250 ms. */
  timeoutMs?: number
  /** Old-generation heap limit of each worker thread, MiB. Default 64. */
  heapMb?: number
  /** Threads at most (default 2). */
  threads?: number
  /**
   * Longest wait before the function is entered: in the queue behind other calls, plus loading the
   * module (the first call of a module in a fresh thread compiles it). Default 10 s; a module whose
   * load never ends is killed at this point.
   */
  startTimeoutMs?: number
  /**
   * Told of a thread that died with no call of its own left to fail: its call was already failed (a
   * time-budget kill that raced the heap limit: the thread ran out of heap while being terminated),
   * or it died while starting (a heap limit too small to load the runtime). Calls go on in fresh
   * threads, or fail by `startTimeoutMs`; the process goes on. Default: a warning on stderr.
   */
  onThreadError?: (message: string, err: Error) => void
}

export interface ContainedTaskInput {
  /** Absolute path of a .ts or .js module. */
  module: string
  /** Exported function (or `export.method`). */
  fn: string
  args: unknown[]
}

/** Why a contained call failed: `error` (the code threw), `timeout`, `heap_limit`, `crashed`. */
export type ContainedFailure = 'error' | 'timeout' | 'heap_limit' | 'crashed'

export interface ContainedPool {
  /**
   * Runs `task.fn(...task.args)` of `task.module` in a worker thread. Rejects with `plugin_failed`
   * (details.reason: ContainedFailure, details.module, details.fn) when the code throws, exceeds
   * its time budget or the heap limit, or its thread dies.
   */
  runContained<T>(task: ContainedTaskInput, opts?: { timeoutMs?: number }): Promise<T>
  /** Loads a module in a worker and lists its exports (names and types) without calling anything. */
  describeModule(module: string): Promise<ModuleShape>
  readonly timeoutMs: number
  /** Calls killed so far (time or heap): their threads were replaced. */
  readonly killed: number
  /** Threads that died with no call left to fail (see ContainedPoolOptions.onThreadError). */
  readonly threadErrors: number
  close(): Promise<void>
}

export const DEFAULT_TIMEOUT_MS = 250
export const DEFAULT_HEAP_MB = 64

// The sources (`.ts`, under tsx) or the build (`.js`, dist/): whichever this file is.
const WORKER = path.join(__dirname, `contained-worker${path.extname(__filename)}`)

/** Process flags a worker thread may not take: V8 heap sizes (a thread has its own resourceLimits). */
const PROCESS_ONLY_FLAG = /^--(max-old-space-size|max-semi-space-size|max-young-generation-size|initial-heap-size|max-heap-size|heap-growing-percent)\b/

/**
 * Flags of the worker threads: the process's own but its heap sizes (the app may run under tsx,
 * `--import tsx` or tsx's CLI flags, which workers inherit), plus tsx's loader when the process was
 * started without it (compiled), so a thread can always load a partner's TypeScript plugin.
 */
function workerExecArgv(): string[] {
  const own = process.execArgv.filter((a) => !PROCESS_ONLY_FLAG.test(a))
  if (own.some((a) => a.includes('tsx'))) return own
  return [...own, `--import=${pathToFileURL(require.resolve('tsx'))}`]
}

export function createContainedPool(opts: ContainedPoolOptions = {}): ContainedPool {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const heapMb = opts.heapMb ?? DEFAULT_HEAP_MB
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000
  const threads = opts.threads ?? 2
  const piscina = new Piscina({
    filename: WORKER,
    minThreads: 1,
    maxThreads: threads,
    idleTimeout: 60_000,
    execArgv: workerExecArgv(),
    resourceLimits: { maxOldGenerationSizeMb: heapMb, maxYoungGenerationSizeMb: Math.max(4, Math.min(16, heapMb / 4)) },
  })
  let killed = 0
  let threadErrors = 0
  let closed = false
  // Piscina emits 'error' for a thread that dies when none of its calls is pending; an emitter's
  // unheard 'error' is thrown, and would take the whole process down with a plugin's thread.
  const onThreadError = opts.onThreadError ?? ((message: string) => console.warn(message))
  piscina.on('error', (err: Error) => {
    threadErrors++
    onThreadError(`containment: a worker thread died with no call to fail: ${err.message}`, err)
  })

  async function run(task: Omit<ContainedTask, 'clock'>, budgetMs: number): Promise<unknown> {
    if (closed) throw new Error('the containment pool is closed')
    const clock = new SharedArrayBuffer(8)
    const started = new BigInt64Array(clock)
    const abort = new AbortController()
    let reason: ContainedFailure | null = null
    const deadline = Date.now() + startTimeoutMs
    let timer: NodeJS.Timeout
    // The budget runs from the moment the worker enters the function (its stamp on the shared
    // clock); until then the wait is bounded by startTimeoutMs.
    const check = () => {
      const at = Number(Atomics.load(started, 0))
      const now = Date.now()
      if (at && now - at >= budgetMs) reason = 'timeout'
      else if (!at && now >= deadline) reason = 'timeout'
      if (reason) return abort.abort()
      timer = setTimeout(check, at ? at + budgetMs - now : Math.min(budgetMs, deadline - now))
    }
    timer = setTimeout(check, budgetMs)
    try {
      return await piscina.run({ ...task, clock } satisfies ContainedTask, { signal: abort.signal })
    } catch (err) {
      const e = err as Error & { code?: string }
      if (reason || e?.name === 'AbortError') {
        killed++
        throw failure(task, 'timeout', Number(Atomics.load(started, 0)) ? `exceeded its time budget of ${budgetMs} ms` : `did not start within ${startTimeoutMs} ms`)
      }
      if (e?.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        killed++
        throw failure(task, 'heap_limit', `exceeded the heap limit of ${heapMb} MiB`)
      }
      if (e instanceof Error && /worker.*(exit|terminat)/i.test(e.message)) throw failure(task, 'crashed', e.message)
      throw failure(task, 'error', e instanceof Error ? e.message : String(err))
    } finally {
      clearTimeout(timer!)
    }
  }

  return {
    timeoutMs,
    get killed() {
      return killed
    },
    get threadErrors() {
      return threadErrors
    },
    runContained: <T>(task: ContainedTaskInput, o: { timeoutMs?: number } = {}) =>
      run({ op: 'call', module: task.module, fn: task.fn, args: task.args }, o.timeoutMs ?? timeoutMs) as Promise<T>,
    describeModule: (module) => run({ op: 'describe', module }, startTimeoutMs) as Promise<ModuleShape>,
    async close() {
      if (closed) return
      closed = true
      await piscina.destroy()
    },
  }
}

function failure(task: Omit<ContainedTask, 'clock'>, reason: ContainedFailure, message: string): AppError {
  const what = task.op === 'describe' ? `loading ${path.basename(path.dirname(task.module))}/${path.basename(task.module)}` : `${task.fn}()`
  return new AppError('plugin_failed', `${what} ${reason === 'error' ? 'failed: ' : ''}${message}`, {
    details: { reason, module: task.module, fn: task.fn ?? null, error: message },
  })
}

/** The failure reason of a `plugin_failed` error from a contained call, else null. */
export function containedFailure(err: unknown): ContainedFailure | null {
  return err instanceof AppError && err.code === 'plugin_failed' ? ((err.details?.reason as ContainedFailure) ?? null) : null
}

/**
 * The body of a containment worker thread (see contained.ts). It loads a module (TypeScript through
 * the tsx loader the thread inherits), calls one of its exported functions and returns the result
 * by structured clone. Before the call starts it stamps the task's shared clock, so the main thread
 * can hold the call to its time budget without counting the queue wait or the module load.
 */

export interface ContainedTask {
  op: 'call' | 'describe'
  /** Absolute path of a .ts or .js module. */
  module: string
  /** Exported function, or `export.method` (called with the export as `this`). */
  fn?: string
  args?: unknown[]
  /** 8 bytes: the call's start (ms since the epoch, BigInt64) once the function is entered. */
  clock: SharedArrayBuffer
}

/** What a module exports, by name: the type of each export and of each member of object exports. */
export type ModuleShape = Record<string, { type: string; members?: Record<string, string> }>

function load(module: string): Record<string, unknown> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(module) as Record<string, unknown>
}

function describe(mod: Record<string, unknown>): ModuleShape {
  const shape: ModuleShape = {}
  for (const [name, value] of Object.entries(mod)) {
    const type = typeof value
    if (value && type === 'object') {
      const members: Record<string, string> = {}
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) members[k] = typeof v
      shape[name] = { type, members }
    } else shape[name] = { type }
  }
  return shape
}

export default async function run(task: ContainedTask): Promise<unknown> {
  const mod = load(task.module)
  if (task.op === 'describe') return describe(mod)
  const path = (task.fn ?? '').split('.')
  if (path.length < 1 || path.length > 2 || path.some((p) => !p)) throw new Error(`invalid function name '${task.fn}'`)
  const self = path.length === 2 ? (mod[path[0]] as Record<string, unknown> | undefined) : mod
  const fn = self?.[path[path.length - 1]]
  if (typeof fn !== 'function') throw new Error(`'${task.fn}' is not a function exported by the module`)
  Atomics.store(new BigInt64Array(task.clock), 0, BigInt(Date.now()))
  return await fn.apply(self, task.args ?? [])
}

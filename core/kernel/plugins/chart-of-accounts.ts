import { createHash } from 'node:crypto'
import { AppError } from '../errors'
import { containedFailure, type ContainedPool } from './contained'
import { MAPPING_PROBE_AMOUNT, type Account, type AccountMapping, type LineRole, type PostingEvent, type PostingEventType } from './contract'
import type { Registry } from './registry'

/**
 * Chart-of-accounts mappings, resolved in the containment pool and cached, so the posting path
 * waits on plugin code only the first time an event shape is seen for a config version.
 *
 * - The config version is content-addressed: plugin name and version plus a hash of the canonical
 *   config. Changing the config (or upgrading the plugin) gives a new version; tenants with the same
 *   plugin and config share entries (a mapping is a pure function of event and config).
 * - The cache key of a mapping is the config version and the event shape: type, currency, method, account role
 *   and the ordered (role, side) of the lines, exactly what `map()` is given. Amounts are not part
 *   of it: `map()` sees MAPPING_PROBE_AMOUNT on every line and a split is applied as proportions
 *   (contract.ts).
 * - Concurrent first requests of one shape share one call. A failed call (thrown, or killed for
 *   time or heap) is remembered for FAILURE_TTL_MS, so a broken plugin is not re-run on every
 *   request; it fails each request with the same error meanwhile.
 */

export interface ActiveChart {
  name: string
  config: Record<string, unknown>
  /** configVersion(plugin, config) */
  version: string
}

export interface EventShape {
  type: PostingEventType
  currency: string
  method?: string
  account_role?: 'cash' | 'bank' | 'clearing'
  lines: ReadonlyArray<{ role: LineRole; side: 'debit' | 'credit' }>
}

export interface ResolvedMapping {
  mapping: AccountMapping
  /** Every account code the plugin lists for this config. */
  known: ReadonlySet<string>
}

export interface ChartOfAccountsResolver {
  /** The plugin's accounts for a config (cached per config version). */
  accounts(chart: ActiveChart): Promise<Account[]>
  /** The mapping of an event shape and the known accounts (cached per config version and shape). */
  mapping(chart: ActiveChart, shape: EventShape): Promise<ResolvedMapping>
  /** Calls made to plugin code so far (for metrics and tests). */
  readonly calls: number
}

const MAX_ENTRIES = 20_000
const FAILURE_TTL_MS = 10_000

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** The version of a plugin's config: name@version#sha256(canonical config), first 16 bytes. */
export function configVersion(plugin: { name: string; version: string }, config: Record<string, unknown>): string {
  return `${plugin.name}@${plugin.version}#${createHash('sha256').update(canonical(config)).digest('base64url').slice(0, 22)}`
}

function shapeKey(shape: EventShape): string {
  return `${shape.type}|${shape.currency}|${shape.method ?? ''}|${shape.account_role ?? ''}|${shape.lines.map((l) => `${l.role}:${l.side === 'debit' ? 'd' : 'c'}`).join(',')}`
}

type Entry<T> = { value: Promise<T>; failedUntil?: number }

export function chartOfAccountsResolver(registry: Registry, pool: ContainedPool): ChartOfAccountsResolver {
  const cache = new Map<string, Entry<unknown>>()
  let calls = 0

  function cached<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const hit = cache.get(key) as Entry<T> | undefined
    if (hit && (hit.failedUntil === undefined || hit.failedUntil > Date.now())) return hit.value
    if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string)
    const entry: Entry<T> = { value: compute() }
    entry.value.catch(() => {
      entry.failedUntil = Date.now() + FAILURE_TTL_MS
    })
    cache.set(key, entry)
    return entry.value
  }

  async function call<T>(chart: ActiveChart, fn: 'accounts' | 'map', args: unknown[]): Promise<T> {
    const plugin = registry.get(chart.name)
    if (!plugin?.manifest.provides.includes('chart-of-accounts')) {
      throw new AppError('posting_rejected', `The chart-of-accounts plugin '${chart.name}' is not installed.`)
    }
    calls++
    try {
      return await pool.runContained<T>({ module: plugin.entry, fn: `chartOfAccounts.${fn}`, args })
    } catch (err) {
      const reason = containedFailure(err)
      const message = (err as AppError).details?.error ?? (err as Error).message
      // A plugin that throws produced no valid posting (as before containment); one that was
      // stopped for its time or heap, or whose thread died, failed.
      if (reason === 'error') throw new AppError('posting_rejected', `The chart-of-accounts plugin '${chart.name}' failed: ${message}`)
      throw new AppError('plugin_failed', `The chart-of-accounts plugin '${chart.name}' was stopped: ${fn}() ${message}.`, {
        details: { plugin: chart.name, reason },
      })
    }
  }

  const accounts = (chart: ActiveChart) =>
    cached(`accounts|${chart.version}`, async () => {
      const list = await call<Account[]>(chart, 'accounts', [chart.config])
      if (!Array.isArray(list)) throw new AppError('posting_rejected', `The chart-of-accounts plugin '${chart.name}' lists no accounts.`)
      return list
    })

  const known = (chart: ActiveChart) =>
    cached(`known|${chart.version}`, async () => new Set((await accounts(chart)).map((a) => a?.code)) as ReadonlySet<string>)

  return {
    get calls() {
      return calls
    },
    accounts,
    mapping: (chart, shape) =>
      cached(`map|${chart.version}|${shapeKey(shape)}`, async () => {
        const event: PostingEvent = {
          type: shape.type,
          currency: shape.currency,
          ...(shape.method !== undefined ? { method: shape.method } : {}),
          ...(shape.account_role !== undefined ? { account_role: shape.account_role } : {}),
          lines: shape.lines.map((l) => ({ role: l.role, side: l.side, amount: MAPPING_PROBE_AMOUNT })),
        }
        const [mapping, codes] = await Promise.all([call<AccountMapping>(chart, 'map', [event, chart.config]), known(chart)])
        if (!mapping || typeof mapping !== 'object') throw new AppError('posting_rejected', `The chart-of-accounts plugin '${chart.name}' returned no mapping.`)
        return { mapping, known: codes }
      }),
  }
}

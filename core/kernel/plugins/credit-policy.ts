import path from 'node:path'
import { AppError } from '../errors'
import type { ContainedPool } from './contained'
import type { CreditPolicyRule } from './contract'
import type { Registry } from './registry'

/**
 * A credit-policy plugin's defaults, resolved in the containment pool once per config version
 * (configVersion in chart-of-accounts.ts) and cached: its rule set, its grace period and whether it
 * has a `facts` hook. Its `facts` hook runs in the pool too, a whole batch of customers per call
 * (credit-policy-facts.ts loads the plugin there), never on the thread that serves requests.
 */
export interface ActiveCreditPolicy {
  name: string
  config: Record<string, unknown>
  /** configVersion(plugin, config) */
  version: string
}

export interface CreditPolicyDefaults {
  rules: CreditPolicyRule[]
  gracePeriodDays: number
  hasFacts: boolean
}

export interface CreditPolicyResolver {
  defaults(active: ActiveCreditPolicy): Promise<CreditPolicyDefaults>
  /** The plugin's extra facts for each customer of the batch (only when `hasFacts`). */
  facts(active: ActiveCreditPolicy, batch: { customer: string; facts: Record<string, unknown> }[]): Promise<Record<string, unknown>[]>
}

const FAILURE_TTL_MS = 10_000
const MAX_ENTRIES = 10_000
const FACTS_MODULE = path.join(__dirname, `credit-policy-facts${path.extname(__filename)}`) // .ts, or .js in the build

function failed(name: string, what: string, err: unknown): AppError {
  const e = err as AppError
  const message = e.details?.error ?? e.message
  return new AppError(e.code === 'plugin_failed' ? 'plugin_failed' : 'plugin_invalid', `The credit-policy plugin '${name}' failed: ${what} ${message}.`, { details: { plugin: name, reason: e.details?.reason } })
}

export function creditPolicyResolver(registry: Registry, pool: ContainedPool): CreditPolicyResolver {
  const cache = new Map<string, { value: Promise<CreditPolicyDefaults>; failedUntil?: number }>()

  function plugin(name: string) {
    const p = registry.get(name)
    if (!p?.manifest.provides.includes('credit-policy')) throw new AppError('plugin_invalid', `The credit-policy plugin '${name}' is not installed.`)
    return p
  }

  async function compute(active: ActiveCreditPolicy): Promise<CreditPolicyDefaults> {
    const p = plugin(active.name)
    const shape = (await pool.describeModule(p.entry)).creditPolicy?.members ?? {}
    const call = async <T>(fn: string): Promise<T> => {
      try {
        return await pool.runContained<T>({ module: p.entry, fn: `creditPolicy.${fn}`, args: [active.config] })
      } catch (err) {
        throw failed(active.name, `${fn}()`, err)
      }
    }
    const rules = await call<CreditPolicyRule[]>('rules')
    const grace = shape.gracePeriodDays === 'function' ? await call<number>('gracePeriodDays') : 0
    if (!Number.isInteger(grace) || grace < 0 || grace > 365) throw new AppError('plugin_invalid', `The credit-policy plugin '${active.name}' gave a grace period of ${String(grace)} days.`)
    return { rules, gracePeriodDays: grace, hasFacts: shape.facts === 'function' }
  }

  return {
    defaults(active) {
      const hit = cache.get(active.version)
      if (hit && (hit.failedUntil === undefined || hit.failedUntil > Date.now())) return hit.value
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string)
      const entry: { value: Promise<CreditPolicyDefaults>; failedUntil?: number } = { value: compute(active) }
      entry.value.catch(() => {
        entry.failedUntil = Date.now() + FAILURE_TTL_MS
      })
      cache.set(active.version, entry)
      return entry.value
    },
    async facts(active, batch) {
      const p = plugin(active.name)
      let out: unknown
      try {
        // The budget grows with the batch: one call stands for every customer of it.
        out = await pool.runContained({ module: FACTS_MODULE, fn: 'pluginFactsBatch', args: [p.entry, active.config, batch] }, { timeoutMs: pool.timeoutMs + batch.length })
      } catch (err) {
        throw failed(active.name, 'facts()', err)
      }
      if (!Array.isArray(out) || out.length !== batch.length || out.some((f) => !f || typeof f !== 'object' || Array.isArray(f))) {
        throw new AppError('plugin_invalid', `The credit-policy plugin '${active.name}' returned facts that are not one object per customer.`)
      }
      return out as Record<string, unknown>[]
    },
  }
}

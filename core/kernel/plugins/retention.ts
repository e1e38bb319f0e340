import { AppError } from '../errors'
import { containedFailure, type ContainedPool } from './contained'
import { RETENTION_DATA_TYPES, type RetentionAction, type RetentionDataType, type RetentionPolicy } from './contract'
import type { Registry } from './registry'

/**
 * Retention policies of a plugin, resolved in the containment pool once per config version
 * (configVersion in chart-of-accounts.ts) and cached; a failed call is remembered briefly so a broken
 * plugin is not re-run on every request.
 *
 * What each data type may do is the core's rule, not the plugin's (ARCHITECTURE §7: retention never
 * purges ledger amounts, a purge of personal data is an anonymization): a plugin default or a tenant
 * override outside ALLOWED_RETENTION_ACTIONS is refused.
 */
export const ALLOWED_RETENTION_ACTIONS: Readonly<Record<RetentionDataType, readonly RetentionAction[]>> = {
  // The customer row anchors the ledger (entries, documents name it): it is never deleted or moved,
  // only blanked (the privacy workflow's anonymization).
  soft_deleted_customers: ['anonymize'],
  notifications: ['purge', 'archive'],
  communications: ['purge', 'archive'],
  // A delivery's attempts are its log: purged with it (archiving them is not offered).
  webhook_deliveries: ['purge'],
  events: ['purge', 'archive'],
  idempotency_keys: ['purge'],
  // Hash-chained and append-only: archived copies only, and the chain still verifies.
  audit_log: ['archive'],
  // Amounts, lines, journal entries and balances never leave the ledger: archival marks documents.
  documents: ['archive'],
}

export const MAX_RETAIN_DAYS = 36_500

export interface ActiveRetention {
  name: string
  config: Record<string, unknown>
  /** configVersion(plugin, config) */
  version: string
}

export interface RetentionResolver {
  policies(active: ActiveRetention): Promise<RetentionPolicy[]>
  readonly calls: number
}

const FAILURE_TTL_MS = 10_000
const MAX_ENTRIES = 10_000

/** Refuses a list that is not exactly one valid policy per known data type. */
export function checkRetentionPolicies(name: string, list: unknown): RetentionPolicy[] {
  const bad = (why: string) => new AppError('plugin_invalid', `The retention plugin '${name}' returned invalid policies: ${why}.`)
  if (!Array.isArray(list)) throw bad('not a list')
  const seen = new Map<RetentionDataType, RetentionPolicy>()
  for (const p of list as Partial<RetentionPolicy>[]) {
    if (!p || typeof p !== 'object') throw bad('an entry is not an object')
    const type = p.data_type as RetentionDataType
    if (!(RETENTION_DATA_TYPES as readonly string[]).includes(type)) throw bad(`unknown data type '${String(type)}'`)
    if (seen.has(type)) throw bad(`'${type}' listed twice`)
    if (!Number.isInteger(p.retain_days) || p.retain_days! < 1 || p.retain_days! > MAX_RETAIN_DAYS) throw bad(`'${type}' retain_days must be an integer 1..${MAX_RETAIN_DAYS}`)
    if (!ALLOWED_RETENTION_ACTIONS[type].includes(p.action as RetentionAction)) throw bad(`'${type}' cannot be '${String(p.action)}'`)
    seen.set(type, { data_type: type, retain_days: p.retain_days!, action: p.action as RetentionAction })
  }
  const missing = RETENTION_DATA_TYPES.filter((t) => !seen.has(t))
  if (missing.length) throw bad(`no policy for ${missing.join(', ')}`)
  return RETENTION_DATA_TYPES.map((t) => seen.get(t)!)
}

export function retentionResolver(registry: Registry, pool: ContainedPool): RetentionResolver {
  const cache = new Map<string, { value: Promise<RetentionPolicy[]>; failedUntil?: number }>()
  let calls = 0

  async function compute(active: ActiveRetention): Promise<RetentionPolicy[]> {
    const plugin = registry.get(active.name)
    if (!plugin?.manifest.provides.includes('retention')) throw new AppError('plugin_invalid', `The retention plugin '${active.name}' is not installed.`)
    calls++
    let list: unknown
    try {
      list = await pool.runContained<unknown>({ module: plugin.entry, fn: 'retention.policies', args: [active.config] })
    } catch (err) {
      const reason = containedFailure(err)
      const message = (err as AppError).details?.error ?? (err as Error).message
      throw new AppError('plugin_failed', `The retention plugin '${active.name}' failed: policies() ${message}.`, { details: { plugin: active.name, reason } })
    }
    return checkRetentionPolicies(active.name, list)
  }

  return {
    get calls() {
      return calls
    },
    policies(active) {
      const hit = cache.get(active.version)
      if (hit && (hit.failedUntil === undefined || hit.failedUntil > Date.now())) return hit.value
      if (cache.size >= MAX_ENTRIES) cache.delete(cache.keys().next().value as string)
      const entry: { value: Promise<RetentionPolicy[]>; failedUntil?: number } = { value: compute(active) }
      entry.value.catch(() => {
        entry.failedUntil = Date.now() + FAILURE_TTL_MS
      })
      cache.set(active.version, entry)
      return entry.value
    },
  }
}

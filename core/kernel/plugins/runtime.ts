import type { Config } from '../config'
import type { PluginKind } from './contract'
import { createContainedPool, type ContainedPool, type ContainedPoolOptions } from './contained'
import { discoverPlugins, type Registry } from './registry'
import { chartOfAccountsResolver, type ChartOfAccountsResolver } from './chart-of-accounts'
import { retentionResolver, type RetentionResolver } from './retention'
import { creditPolicyResolver, type CreditPolicyResolver } from './credit-policy'

/**
 * The kinds of plugin this service can run: a tenant may enable a plugin only when the core runs
 * every kind it provides (PLUGINS.md: "enabling a kind the core cannot run is refused"). Channels
 * run through core/kernel/plugins/channel-host.ts (core/notifications/channels.ts callChannel). The app and worker builders
 * may pass their own list (createPluginRuntime `runnableKinds`).
 */
export const RUNNABLE_PLUGIN_KINDS: readonly PluginKind[] = ['chart-of-accounts', 'credit-policy', 'retention', 'notification-channel']

/**
 * Everything plugins need at run time, made once at start-up and closed at shutdown: the
 * discovered plugins, the containment pool their code runs in, the kinds the core can run and the
 * chart-of-accounts mapping cache.
 */
export interface PluginRuntime {
  registry: Registry
  pool: ContainedPool
  runnableKinds: ReadonlySet<PluginKind>
  chartOfAccounts: ChartOfAccountsResolver
  /** Retention policies per plugin config version (core/kernel/plugins/retention.ts). */
  retention: RetentionResolver
  /** Credit-policy defaults per plugin config version, and plugin facts, in the pool (credit-policy.ts). */
  creditPolicy: CreditPolicyResolver
  close(): Promise<void>
}

export async function createPluginRuntime(opts: {
  pluginPath: string
  pool?: ContainedPool
  poolOptions?: ContainedPoolOptions
  runnableKinds?: readonly PluginKind[]
  log?: (msg: string) => void
}): Promise<PluginRuntime> {
  const pool = opts.pool ?? createContainedPool({ onThreadError: opts.log, ...opts.poolOptions })
  const registry = await discoverPlugins(opts.pluginPath, pool, opts.log)
  return {
    registry,
    pool,
    runnableKinds: new Set(opts.runnableKinds ?? RUNNABLE_PLUGIN_KINDS),
    chartOfAccounts: chartOfAccountsResolver(registry, pool),
    retention: retentionResolver(registry, pool),
    creditPolicy: creditPolicyResolver(registry, pool),
    close: () => pool.close(),
  }
}

/** The options of a process's runtime, from its config. */
export function pluginRuntimeOptions(config: Pick<Config, 'PLUGIN_PATH' | 'PLUGIN_TIMEOUT_MS' | 'PLUGIN_HEAP_MB' | 'PLUGIN_THREADS' | 'PLUGIN_START_TIMEOUT_MS'>, log: (msg: string) => void) {
  return {
    pluginPath: config.PLUGIN_PATH,
    poolOptions: { timeoutMs: config.PLUGIN_TIMEOUT_MS, heapMb: config.PLUGIN_HEAP_MB, threads: config.PLUGIN_THREADS, startTimeoutMs: config.PLUGIN_START_TIMEOUT_MS },
    log,
  }
}

// Runtimes in use, newest last (a process normally has one; a test may build a second app).
const inUse: PluginRuntime[] = []

/**
 * Makes `runtime` the one the posting engine and the plugin service use in this process. Called
 * explicitly by the app and worker builders at start-up (never by an import); the app hands it back
 * with `releasePluginRuntime` when it closes, and the one in use before is in use again.
 */
export function usePluginRuntime(runtime: PluginRuntime): void {
  inUse.push(runtime)
}

export function releasePluginRuntime(runtime: PluginRuntime): void {
  const i = inUse.lastIndexOf(runtime)
  if (i >= 0) inUse.splice(i, 1)
}

/** The runtime in use in this process, or null when no builder made one yet. */
export function currentPluginRuntime(): PluginRuntime | null {
  return inUse[inUse.length - 1] ?? null
}

export function pluginRuntime(): PluginRuntime {
  const current = inUse[inUse.length - 1]
  if (!current) throw new Error('no plugin runtime: the app or worker builder makes one at start-up (createPluginRuntime)')
  return current
}

/** The discovered plugins of this process's runtime. */
export function pluginRegistry(): Registry {
  return pluginRuntime().registry
}

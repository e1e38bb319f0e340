import { afterCommit } from '../kernel/db/tenant'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { recordAudit } from '../audit/service'
import { pluginRegistry, pluginRuntime } from '../kernel/plugins/runtime'
import { configVersion } from '../kernel/plugins/chart-of-accounts'
import { evictChartOfAccounts } from '../ledger/engine'

export const DEFAULT_COA_PLUGIN = 'coa-standard'
/** The credit policy's defaults come from this plugin while the tenant enables no other credit-policy plugin. */
export const DEFAULT_CREDIT_POLICY_PLUGIN = 'credit-policy-standard'
const SINGLE_ACTIVE_KINDS = ['credit-policy', 'retention']

export interface PluginView {
  name: string
  object: 'plugin'
  version: string
  provides: string[]
  config_schema: Record<string, unknown>
  enabled: boolean
  config: Record<string, unknown> | null
}

/** Every installed plugin with this tenant's enablement and config. */
export async function listPlugins(trx: Trx, ctx: RequestContext): Promise<PluginView[]> {
  const rows: { name: string; enabled: boolean; config: Record<string, unknown> }[] = await trx('tenant_plugins').where({ tenant_id: ctx.tenantId })
  const byName = new Map(rows.map((r) => [r.name, r]))
  // The built-in credit policy is in effect (so shown enabled) until another credit-policy plugin is.
  const otherPolicy = rows.some((r) => r.enabled && r.name !== DEFAULT_CREDIT_POLICY_PLUGIN && pluginRegistry().get(r.name)?.manifest.provides.includes('credit-policy'))
  const isEnabled = (name: string) => byName.get(name)?.enabled ?? (name === DEFAULT_CREDIT_POLICY_PLUGIN && !otherPolicy)
  return [...pluginRegistry().plugins.values()]
    .sort((a, b) => a.manifest.name.localeCompare(b.manifest.name))
    .map((p) => ({
      name: p.manifest.name,
      object: 'plugin' as const,
      version: p.manifest.version,
      provides: p.manifest.provides,
      config_schema: p.manifest.configSchema,
      enabled: isEnabled(p.manifest.name),
      config: byName.get(p.manifest.name)?.config ?? null,
    }))
}

/** The tenant's enabled plugin of a kind (name and config), or null when none is enabled. */
export async function enabledPlugin(trx: Trx, tenantId: string, kind: string): Promise<{ name: string; config: Record<string, unknown> } | null> {
  const row = await trx('tenant_plugins').where({ tenant_id: tenantId, kind, enabled: true }).orderBy('updated_at', 'desc').first('name', 'config')
  return row ? { name: row.name, config: row.config ?? {} } : null
}

/**
 * Enables (or disables) a plugin for the tenant with a config validated against its schema.
 * Enabling a chart of accounts makes it the tenant's only active one and adds its accounts (listed
 * by the plugin in the containment pool). A plugin providing a kind the core cannot run
 * (runtime.ts RUNNABLE_PLUGIN_KINDS) is refused with 400 `plugin_kind_unsupported`.
 */
export async function configurePlugin(trx: Trx, ctx: RequestContext, name: string, input: { enabled?: boolean; config?: unknown }): Promise<PluginView> {
  const runtime = pluginRuntime()
  const registry = runtime.registry
  const plugin = registry.get(name)
  if (!plugin) throw notFound('plugin', name)
  const enabled = input.enabled ?? true
  const unrunnable = plugin.manifest.provides.filter((k) => !runtime.runnableKinds.has(k))
  if (enabled && unrunnable.length) {
    throw new AppError('plugin_kind_unsupported', `The plugin '${name}' provides ${unrunnable.join(', ')}, which this service cannot run yet; it cannot be enabled.`, {
      param: 'enabled',
      details: { unsupported: unrunnable, runnable: [...runtime.runnableKinds] },
    })
  }
  const checked = registry.validateConfig(name, input.config ?? {})
  if (!checked.ok) throw new AppError('plugin_invalid', `Invalid config for '${name}': ${checked.errors}`, { param: 'config' })
  const isCoa = plugin.manifest.provides.includes('chart-of-accounts')
  const kind = isCoa ? 'chart-of-accounts' : plugin.manifest.provides[0]
  if (isCoa && !enabled) {
    throw new AppError('plugin_invalid', 'A tenant always has one active chart of accounts: enable another one instead.', { param: 'enabled' })
  }
  const before = await trx('tenant_plugins').where({ tenant_id: ctx.tenantId, name }).first()
  if (name === DEFAULT_CREDIT_POLICY_PLUGIN && !enabled) {
    const other = await trx('tenant_plugins').where({ tenant_id: ctx.tenantId, kind: 'credit-policy', enabled: true }).whereNot({ name }).first('name')
    if (!other) throw new AppError('plugin_invalid', 'The built-in credit policy is in effect until another credit-policy plugin is enabled: enable that one instead.', { param: 'enabled' })
  }
  if (isCoa) {
    let accounts
    try {
      accounts = await runtime.chartOfAccounts.accounts({ name, config: checked.config, version: configVersion(plugin.manifest, checked.config) })
    } catch (err) {
      if ((err as AppError).code === 'plugin_failed') throw err
      throw new AppError('plugin_invalid', `The plugin '${name}' failed to list its accounts: ${(err as Error).message}`)
    }
    if (!Array.isArray(accounts) || !accounts.length) throw new AppError('plugin_invalid', `The plugin '${name}' lists no accounts.`)
    await trx('tenant_plugins').where({ tenant_id: ctx.tenantId, kind: 'chart-of-accounts' }).whereNot({ name }).update({ enabled: false, updated_at: trx.fn.now() })
    await trx('accounts')
      .insert(accounts.map((a) => ({ tenant_id: ctx.tenantId, code: a.code, name: a.name, type: a.type, plugin: name })))
      .onConflict(['tenant_id', 'code'])
      .merge(['name', 'type', 'plugin'])
  }
  // At most one active credit-policy and one retention plugin (PLUGINS.md): enabling one disables the others.
  if (enabled && SINGLE_ACTIVE_KINDS.includes(kind)) {
    await trx('tenant_plugins').where({ tenant_id: ctx.tenantId, kind }).whereNot({ name }).update({ enabled: false, updated_at: trx.fn.now() })
  }
  const [row] = await trx('tenant_plugins')
    .insert({ tenant_id: ctx.tenantId, name, kind, enabled, config: JSON.stringify(checked.config) })
    .onConflict(['tenant_id', 'name'])
    .merge({ enabled, config: JSON.stringify(checked.config), updated_at: trx.fn.now() })
    .returning('*')
  if (isCoa) afterCommit(trx, () => evictChartOfAccounts(ctx.tenantId))
  await recordAudit(trx, ctx, {
    action: 'plugin.configured',
    entity_type: 'plugin',
    entity_id: name,
    before: before ? { enabled: before.enabled, config: before.config } : null,
    after: { enabled: row.enabled, config: row.config },
  })
  return (await listPlugins(trx, ctx)).find((p) => p.name === name)!
}

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { page } from '../kernel/pagination'
import { BUILTIN_PLUGIN_DIR } from '../kernel/plugins/registry'
import { pluginRegistry, pluginRuntime } from '../kernel/plugins/runtime'
import path from 'node:path'
import type { ChannelMessage, ChannelResult } from '../kernel/plugins/contract'
import { CHANNEL_HOST, describeChannel, sendThroughChannel, type ChannelHostSettings } from '../kernel/plugins/channel-host'
import { recordAudit } from '../audit/service'

/**
 * A tenant's notification channels (`notification_channels`, the only SQL on it): a configured
 * notification-channel plugin. The config is validated against the plugin's configSchema before it
 * is stored; fields the schema marks `writeOnly` (passwords, API keys, signing secrets) are stored
 * but always read back as "****", and a PATCH that leaves them out or sends "****" keeps them.
 */

export const MASK = '****'

export interface ChannelRow {
  id: string
  name: string
  plugin: string
  config: Record<string, unknown>
  created_by: string
  created_at: Date
  updated_at: Date
  deleted_at: Date | null
}

type Recipient = 'email' | 'phone' | 'customer'
const recipients = new Map<string, Recipient | null>()

/** Built-in channels (plugins/) run in process; partner channels only ever in the containment pool. */
const isBuiltIn = (entry: string) => entry.startsWith(path.resolve(BUILTIN_PLUGIN_DIR) + path.sep)

/**
 * Describes every installed channel plugin not yet described (its conformance and the address it
 * needs): a built-in in process, a partner's in the containment pool. Every path that reads
 * channels calls it first (channelRow, listChannels, createChannel).
 */
export async function describeChannels(): Promise<void> {
  for (const loaded of pluginRegistry().plugins.values()) {
    if (!loaded.manifest.provides.includes('notification-channel') || recipients.has(loaded.entry)) continue
    let recipient: Recipient | null = null
    try {
      recipient = isBuiltIn(loaded.entry)
        ? describeChannel(loaded.entry).recipient
        : (await pluginRuntime().pool.runContained<{ recipient: Recipient }>({ module: CHANNEL_HOST, fn: 'describeChannel', args: [loaded.entry] })).recipient
    } catch {
      /* not a conforming channel: refused */
    }
    recipients.set(loaded.entry, recipient)
  }
}

/**
 * The installed notification-channel plugin `name` (described by describeChannels), or null: its
 * entry module, the address it needs and its secret config fields.
 */
export function channelPlugin(name: string): { recipient: Recipient; writeOnly: string[]; entry: string } | null {
  const loaded = pluginRegistry().get(name)
  if (!loaded || !loaded.manifest.provides.includes('notification-channel')) return null
  const recipient = recipients.get(loaded.entry)
  if (!recipient) return null
  const props = (loaded.manifest.configSchema.properties ?? {}) as Record<string, { writeOnly?: boolean }>
  return { recipient, writeOnly: Object.keys(props).filter((k) => props[k]?.writeOnly === true), entry: loaded.entry }
}

/** The names of the installed notification-channel plugins. */
export function channelPluginNames(): string[] {
  return [...pluginRegistry().plugins.values()].filter((p) => p.manifest.provides.includes('notification-channel')).map((p) => p.manifest.name).sort()
}

/** What a channel is to a customer: `email`, `sms` or `webhook` (by the address its plugin needs). */
export function channelKind(plugin: string): 'email' | 'sms' | 'webhook' {
  const recipient = channelPlugin(plugin)?.recipient
  return recipient === 'email' ? 'email' : recipient === 'phone' ? 'sms' : 'webhook'
}

function masked(row: Pick<ChannelRow, 'plugin' | 'config'>): Record<string, unknown> {
  const writeOnly = channelPlugin(row.plugin)?.writeOnly ?? []
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(row.config ?? {})) out[k] = writeOnly.includes(k) && v !== undefined && v !== null && v !== '' ? MASK : v
  return out
}

export function channelView(row: ChannelRow) {
  return {
    id: row.id,
    object: 'notification_channel' as const,
    name: row.name,
    plugin: row.plugin,
    kind: channelKind(row.plugin),
    config: masked(row),
    created: row.created_at.toISOString(),
    updated: row.updated_at.toISOString(),
  }
}

export type ChannelView = ReturnType<typeof channelView>

function validated(plugin: string, config: unknown): Record<string, unknown> {
  const checked = pluginRegistry().validateConfig(plugin, config)
  if (!checked.ok) throw new AppError('validation_failed', `Invalid config for '${plugin}': ${checked.errors}`, { param: 'config' })
  return checked.config
}

export async function createChannel(trx: Trx, ctx: RequestContext, input: { name: string; plugin: string; config: Record<string, unknown> }): Promise<ChannelView> {
  await describeChannels()
  if (!channelPlugin(input.plugin)) {
    throw new AppError('validation_failed', `'${input.plugin}' is not an installed notification-channel plugin (installed: ${channelPluginNames().join(', ')}).`, { param: 'plugin' })
  }
  if (Object.values(input.config).includes(MASK)) throw new AppError('validation_failed', `"${MASK}" is not a value: give the secret itself.`, { param: 'config' })
  const config = validated(input.plugin, input.config)
  const [row]: ChannelRow[] = await trx('notification_channels')
    .insert({ tenant_id: ctx.tenantId, id: newId('nch'), name: input.name, plugin: input.plugin, config: JSON.stringify(config), created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  const view = channelView(row)
  await recordAudit(trx, ctx, { action: 'notification_channel.created', entity_type: 'notification_channel', entity_id: row.id, after: view })
  return view
}

/** A live channel row (secrets unmasked: for sending only). */
export async function channelRow(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string, opts: { forUpdate?: boolean; param?: string } = {}): Promise<ChannelRow> {
  await describeChannels()
  const q = trx('notification_channels').where({ tenant_id: ctx.tenantId, id }).whereNull('deleted_at')
  if (opts.forUpdate) q.forUpdate()
  const row: ChannelRow | undefined = await q.first()
  if (!row) throw notFound('notification channel', id, opts.param ?? 'id')
  return row
}

export async function getChannel(trx: Trx, ctx: RequestContext, id: string): Promise<ChannelView> {
  return channelView(await channelRow(trx, ctx, id))
}

export async function listChannels(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): Promise<ChannelRow[]> {
  await describeChannels()
  return trx('notification_channels').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at').orderBy('id')
}

export async function listChannelViews(trx: Trx, ctx: RequestContext) {
  return page((await listChannels(trx, ctx)).map(channelView), false)
}

export async function updateChannel(trx: Trx, ctx: RequestContext, id: string, input: { name?: string; config?: Record<string, unknown> }): Promise<ChannelView> {
  const row = await channelRow(trx, ctx, id, { forUpdate: true })
  const before = channelView(row)
  let config = row.config
  if (input.config) {
    // Secrets left out, or sent back masked, keep their stored value.
    const merged: Record<string, unknown> = { ...row.config }
    for (const [k, v] of Object.entries(input.config)) if (v !== MASK) merged[k] = v
    config = validated(row.plugin, merged)
  }
  const [updated]: ChannelRow[] = await trx('notification_channels')
    .where({ tenant_id: ctx.tenantId, id })
    .update({ name: input.name ?? row.name, config: JSON.stringify(config), updated_at: trx.fn.now() })
    .returning('*')
  const view = channelView(updated)
  await recordAudit(trx, ctx, { action: 'notification_channel.updated', entity_type: 'notification_channel', entity_id: id, before, after: view })
  return view
}

export async function deleteChannel(trx: Trx, ctx: RequestContext, id: string): Promise<ChannelView & { deleted: true }> {
  const row = await channelRow(trx, ctx, id, { forUpdate: true })
  await trx('notification_channels').where({ tenant_id: ctx.tenantId, id }).update({ deleted_at: trx.fn.now(), updated_at: trx.fn.now() })
  const view = channelView(row)
  await recordAudit(trx, ctx, { action: 'notification_channel.deleted', entity_type: 'notification_channel', entity_id: id, before: view })
  return { ...view, deleted: true as const }
}

/**
 * The one place a channel plugin is called, through the channel host (core/kernel/plugins/
 * channel-host.ts: plain data in and out): a built-in channel in process, a partner channel in the
 * containment pool with a send-sized time budget. A plugin that throws (or is killed) is a failed,
 * non-retryable send (its outcome is unknown: it may have sent), never a crash of the sender.
 */
export const CONTAINED_SEND_TIMEOUT_MS = 60_000

/**
 * A provider's error as the attempt log keeps it: the log is never rewritten (an anonymized
 * customer's attempts stay), so the recipient and anything shaped like an e-mail address are cut.
 */
function withoutAddresses(error: string, to: string): string {
  let out = error.replace(/\u0000/g, '')
  if (to) out = out.split(to).join('<recipient>')
  return out.replace(/[^\s<>"'(),;:]+@[^\s<>"'(),;:]+/g, '<address>')
}

export async function callChannel(entry: string, message: ChannelMessage, config: Record<string, unknown>, settings: ChannelHostSettings): Promise<ChannelResult> {
  try {
    const out = isBuiltIn(entry)
      ? await sendThroughChannel(entry, message, config, settings)
      : await pluginRuntime().pool.runContained<ChannelResult>({ module: CHANNEL_HOST, fn: 'sendThroughChannel', args: [entry, message, config, settings] }, { timeoutMs: CONTAINED_SEND_TIMEOUT_MS })
    if (!out || (out.status !== 'sent' && out.status !== 'failed')) return { status: 'failed', error: 'plugin_failed: invalid result from the channel plugin', retryable: false }
    return {
      status: out.status,
      provider_id: typeof out.provider_id === 'string' ? out.provider_id.slice(0, 300) : undefined,
      error: typeof out.error === 'string' ? withoutAddresses(out.error, message.to).slice(0, 1000) : undefined,
      retryable: out.status === 'failed' && out.retryable === true,
    }
  } catch (err) {
    return { status: 'failed', error: `plugin_failed: ${(err as Error).message}`.slice(0, 1000), retryable: false }
  }
}

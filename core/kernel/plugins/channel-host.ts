import { createHmac } from 'node:crypto'
import type { ChannelMessage, ChannelResult, ChannelTools, PluginModule } from './contract'
import { checkedAddress, guardedPost } from '../ssrf'

/**
 * The host of one notification-channel call: loads the plugin's entry module, lends it the core's
 * tools (the SSRF-guarded POST, the checked connect address, Standard Webhooks signing) and calls
 * `send`. Everything it takes and returns is plain data, so the same function runs in process
 * (today, for every channel) or in a containment worker thread:
 *
 *   pool.runContained<ChannelResult>({ module: CHANNEL_HOST, fn: 'sendThroughChannel', args: [entry, message, config, settings] }, { timeoutMs: 60_000 })
 *
 * (the tools are made inside the thread: functions cannot cross it). `describeChannel` likewise.
 */

export const CHANNEL_HOST = __filename

export interface ChannelHostSettings {
  /** WEBHOOK_ALLOW_PRIVATE_TARGETS: lifts the address checks (development, tests). */
  allowPrivateTargets: boolean
  /** Per HTTP call of a channel. */
  httpTimeoutMs: number
}

/** Standard Webhooks: `v1,<base64 HMAC-SHA256(id.timestamp.body)>` keyed by the base64 part of `whsec_…`. */
function signedHeaders(secret: string, msgId: string, body: string): Record<string, string> {
  if (!secret.startsWith('whsec_')) throw new Error('webhook secret must start with whsec_')
  const timestamp = Math.floor(Date.now() / 1000)
  const mac = createHmac('sha256', Buffer.from(secret.slice(6), 'base64')).update(`${msgId}.${timestamp}.${body}`).digest('base64')
  return { 'webhook-id': msgId, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${mac}` }
}

export function channelTools(settings: ChannelHostSettings): ChannelTools {
  return {
    async post(url, headers, body) {
      const out = await guardedPost(url, headers, body, { allowPrivateTargets: settings.allowPrivateTargets, timeoutMs: settings.httpTimeoutMs, maxResponseBytes: 4096 })
      return out.kind === 'response' ? { kind: 'response', status: out.status, body: out.body } : { kind: 'error', code: out.code, message: out.message }
    },
    connectAddress: (host) => checkedAddress(host, settings.allowPrivateTargets),
    signedHeaders,
  }
}

function channelOf(entry: string) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const plugin = (require(entry) as PluginModule).notificationChannel
  if (!plugin || typeof plugin.send !== 'function' || !['email', 'phone', 'customer'].includes(plugin.recipient)) {
    throw new Error(`${entry} exports no notificationChannel {recipient, send}`)
  }
  return plugin
}

/** The channel's conformance and the address it needs (`email`, `phone`, `customer`); throws when it exports no channel. */
export function describeChannel(entry: string): { recipient: 'email' | 'phone' | 'customer' } {
  return { recipient: channelOf(entry).recipient }
}

/** Loads `entry` and sends one message through its `notificationChannel`. */
export async function sendThroughChannel(entry: string, message: ChannelMessage, config: Record<string, unknown>, settings: ChannelHostSettings): Promise<ChannelResult> {
  const plugin = channelOf(entry)
  // Attachments arrive as Uint8Array after a structured clone.
  const attachments = message.attachments?.map((a) => ({ ...a, content: Buffer.from(a.content) }))
  return plugin.send({ ...message, ...(attachments ? { attachments } : {}) }, config, channelTools(settings))
}

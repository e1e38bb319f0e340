import type { ChannelMessage, ChannelResult, ChannelTools, NotificationChannelPlugin } from '../../core/kernel/plugins/contract'

/**
 * A notification as a signed webhook (Standard Webhooks: webhook-id is the notification id, so the
 * receiver dedupes on it): POST {type: "notification", id, to, subject, body}. 2xx is sent; 429,
 * 5xx and network trouble are retryable.
 */
interface Config {
  url: string
  secret: string
}

export const notificationChannel: NotificationChannelPlugin<Config> = {
  recipient: 'customer',
  async send(message: ChannelMessage, config: Config, tools: ChannelTools): Promise<ChannelResult> {
    const body = JSON.stringify({ type: 'notification', id: message.id, to: message.to, subject: message.subject ?? null, body: message.body })
    const headers = { ...tools.signedHeaders(config.secret, message.id, body), 'content-type': 'application/json', 'user-agent': 'Receivables-Notifications/1' }
    const out = await tools.post(config.url, headers, body)
    if (out.kind === 'error') return { status: 'failed', error: `${out.code}: ${out.message}`, retryable: out.code === 'timeout' || out.code === 'network' }
    if (out.status >= 200 && out.status < 300) return { status: 'sent', provider_id: message.id, retryable: false }
    return { status: 'failed', error: `HTTP ${out.status}`, retryable: out.status === 429 || out.status >= 500 }
  },
}

import type { ChannelMessage, ChannelResult, ChannelTools, NotificationChannelPlugin } from '../../core/kernel/plugins/contract'

/**
 * SMS through a JSON HTTP gateway: POST {id, to, text, sender} to the configured URL, through the
 * core's SSRF guard. 2xx is sent (the gateway's `id`/`message_id` answer is the provider id); 429
 * and 5xx and network trouble are retryable; other 4xx are not.
 */
interface Config {
  url: string
  api_key?: string
  sender?: string
}

export const notificationChannel: NotificationChannelPlugin<Config> = {
  recipient: 'phone',
  async send(message: ChannelMessage, config: Config, tools: ChannelTools): Promise<ChannelResult> {
    const body = JSON.stringify({ id: message.id, to: message.to, text: message.body, ...(config.sender ? { sender: config.sender } : {}) })
    const headers: Record<string, string> = { 'content-type': 'application/json', 'idempotency-key': message.id }
    if (config.api_key) headers.authorization = `Bearer ${config.api_key}`
    const out = await tools.post(config.url, headers, body)
    if (out.kind === 'error') return { status: 'failed', error: `${out.code}: ${out.message}`, retryable: out.code === 'timeout' || out.code === 'network' }
    if (out.status >= 200 && out.status < 300) {
      let providerId: string | undefined
      try {
        const parsed = JSON.parse(out.body) as { id?: unknown; message_id?: unknown }
        const id = parsed.message_id ?? parsed.id
        if (typeof id === 'string' || typeof id === 'number') providerId = String(id).slice(0, 200)
      } catch {
        /* a gateway may answer with no JSON */
      }
      return { status: 'sent', provider_id: providerId, retryable: false }
    }
    return { status: 'failed', error: `HTTP ${out.status}`, retryable: out.status === 429 || out.status >= 500 }
  },
}

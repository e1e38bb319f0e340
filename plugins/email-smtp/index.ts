import nodemailer from 'nodemailer'
import type { ChannelMessage, ChannelResult, ChannelTools, NotificationChannelPlugin } from '../../core/kernel/plugins/contract'

/** E-mail over SMTP (nodemailer). The notification id becomes the Message-ID, so a receiving system can spot a duplicate. */
interface Config {
  host: string
  port?: number
  secure?: boolean
  user?: string
  password?: string
  from: string
}

const TIMEOUT_MS = 15_000
/** A pooled connection idle this long is closed (so a finished batch leaves no socket open). */
const IDLE_CLOSE_MS = 1_000

type Transport = ReturnType<typeof nodemailer.createTransport>

/**
 * Pooled transports per server and account: a worker draining a tenant's queue reuses its SMTP
 * connections instead of a handshake per message; closed when idle.
 */
const pools = new Map<string, { transport: Transport; timer: NodeJS.Timeout | null; busy: number }>()

function pooled(key: string, create: () => Transport) {
  let p = pools.get(key)
  if (!p) pools.set(key, (p = { transport: create(), timer: null, busy: 0 }))
  if (p.timer) clearTimeout(p.timer)
  p.timer = null
  p.busy++
  const entry = p
  return {
    transport: p.transport,
    release(broken: boolean) {
      entry.busy--
      if (broken && pools.get(key) === entry) pools.delete(key)
      if (broken && entry.busy === 0) return entry.transport.close()
      if (entry.busy > 0) return
      entry.timer = setTimeout(() => {
        if (entry.busy > 0) return
        if (pools.get(key) === entry) pools.delete(key)
        entry.transport.close()
      }, IDLE_CLOSE_MS)
      entry.timer.unref()
    },
  }
}

/** SMTP 4xx answers and connection trouble before the message was accepted are worth another try; 5xx are not. */
function retryable(err: { responseCode?: number; code?: string }): boolean {
  if (typeof err.responseCode === 'number') return err.responseCode >= 400 && err.responseCode < 500
  return ['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED'].includes(err.code ?? '')
}

export const notificationChannel: NotificationChannelPlugin<Config> = {
  recipient: 'email',
  async send(message: ChannelMessage, config: Config, tools: ChannelTools): Promise<ChannelResult> {
    // Connect to the address the core checked (no internal hosts), while TLS still verifies the name.
    let address: string
    try {
      address = await tools.connectAddress(config.host)
    } catch (err) {
      const e = err as Error & { code?: string }
      return { status: 'failed', error: `${e.name === 'SsrfError' ? 'ssrf_refused' : (e.code ?? 'EDNS')}: ${e.message}`, retryable: e.name !== 'SsrfError' }
    }
    const port = config.port ?? 587
    const key = JSON.stringify([address, config.host, port, config.secure ?? false, config.user ?? null, config.password ?? null])
    const { transport, release } = pooled(key, () =>
      nodemailer.createTransport({
        pool: true,
        maxConnections: 4,
        maxMessages: 500,
        host: address,
        name: 'receivables',
        tls: { servername: config.host },
        port,
        secure: config.secure ?? false,
        ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
        connectionTimeout: TIMEOUT_MS,
        greetingTimeout: TIMEOUT_MS,
        socketTimeout: TIMEOUT_MS,
      }),
    )
    let broken = false
    const domain = /@([^>\s]+)>?\s*$/.exec(config.from)?.[1] ?? 'receivables.invalid'
    try {
      const info = await transport.sendMail({
        from: config.from,
        to: message.to,
        subject: message.subject ?? '',
        text: message.body,
        messageId: `<${message.id}@${domain}>`,
        attachments: message.attachments?.map((a) => ({ filename: a.filename, contentType: a.contentType, content: a.content })),
      })
      return { status: 'sent', provider_id: info.messageId, retryable: false }
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string; response?: string }
      broken = typeof e.responseCode !== 'number' // a connection problem: do not reuse this pool
      return { status: 'failed', error: `${e.code ?? 'error'}: ${(e.response ?? e.message).slice(0, 500)}`, retryable: retryable(e) }
    } finally {
      release(broken)
    }
  },
}

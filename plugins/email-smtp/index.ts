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
    const transport = nodemailer.createTransport({
      host: address,
      name: 'receivables',
      tls: { servername: config.host },
      port: config.port ?? 587,
      secure: config.secure ?? false,
      ...(config.user ? { auth: { user: config.user, pass: config.password ?? '' } } : {}),
      connectionTimeout: TIMEOUT_MS,
      greetingTimeout: TIMEOUT_MS,
      socketTimeout: TIMEOUT_MS,
    })
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
      return { status: 'failed', error: `${e.code ?? 'error'}: ${(e.response ?? e.message).slice(0, 500)}`, retryable: retryable(e) }
    } finally {
      transport.close()
    }
  },
}

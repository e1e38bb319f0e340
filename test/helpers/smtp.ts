import type { AddressInfo } from 'node:net'
import { SMTPServer } from 'smtp-server'
import type { Test } from 'tap'

export interface ReceivedMail {
  from: string
  to: string[]
  raw: string
}

/**
 * A real SMTP server (smtp-server) on 127.0.0.1, closed with the test. `reject(n)`: an SMTP code to
 * answer the n-th message (0-based) with instead of accepting it (e.g. 451, temporary).
 */
export async function startSmtp(t: Test, reject: (n: number) => number | null = () => null): Promise<{ port: number; mails: ReceivedMail[]; tries: () => number }> {
  const mails: ReceivedMail[] = []
  let tries = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        const n = tries++
        const code = reject(n)
        if (code) return callback(Object.assign(new Error('Try again later'), { responseCode: code }))
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8') })
        callback()
      })
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.server.address() as AddressInfo).port
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port, mails, tries: () => tries }
}

/** The first PDF attached to a raw message (base64 part), or null. */
export function pdfAttachment(raw: string): { filename: string; content: Buffer } | null {
  const m = /Content-Type: application\/pdf;?[^]*?filename=("?)([^"\r\n]+)\1[^]*?\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n--/i.exec(raw)
  return m ? { filename: m[2], content: Buffer.from(m[3].replace(/\r\n/g, ''), 'base64') } : null
}

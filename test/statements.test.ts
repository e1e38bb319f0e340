import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import t from 'tap'
import pino from 'pino'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker } from '../core/jobs/worker'
import { setupTestEnv } from './helpers/app'
import { waitFor } from './helpers/webhooks'
import { startSmtp } from './helpers/smtp'

const NAME = 'Łódź Kebab — 山田商店'

function pdfText(pdf: Buffer): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stmt-'))
  const file = path.join(dir, 's.pdf')
  fs.writeFileSync(file, pdf)
  try {
    return execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' })
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

t.test('statement PDF and statement runs', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ name: 'Kraków Wholesale' })
  const api = env.api(tenant.key)
  const smtp = await startSmtp(t)
  const cus = (
    await api.post('/v1/customers', {
      name: NAME,
      email: 'yamada@kebab.example',
      billing_address: { line1: 'ul. Piotrkowska 1', city: 'Łódź', postal_code: '90-001', country: 'PL' },
    })
  ).body
  const longRef = 'REF-' + 'very-long-reference-that-must-wrap-'.repeat(4)
  for (let i = 0; i < 70; i++) {
    const inv = await api.post('/v1/invoices', { customer: cus.id, issue_date: '2026-10-01', due_date: '2026-10-31', lines: [{ description: 'Kebab', quantity: 1, unit_amount: 1000 + i }] })
    t.equal(inv.statusCode, 201, inv.raw)
  }
  await api.post('/v1/payments', { customer: cus.id, amount: 500, method: 'cash', reference: longRef })

  await t.test('the PDF has the names in any script, the address, aging, due dates and page N of M', async (t) => {
    const res = await env.app.inject({ method: 'GET', url: `/v1/customers/${cus.id}/statement?from=2026-10-01&format=pdf`, headers: { authorization: `Bearer ${tenant.key}` } })
    t.equal(res.statusCode, 200)
    t.equal(res.headers['content-type'], 'application/pdf')
    const text = pdfText(res.rawPayload)
    t.ok(text.includes('Łódź Kebab — 山田商店'), 'Unicode customer name')
    t.ok(text.includes('Kraków Wholesale'), 'merchant name')
    t.ok(text.includes('ul. Piotrkowska 1'), 'customer address')
    t.ok(text.includes('2026-10-31'), 'due dates')
    t.ok(text.includes('Aging summary'))
    t.ok(text.includes('Payment instructions'))
    const pages = [...text.matchAll(/Page (\d+) of (\d+)/g)]
    t.ok(pages.length >= 2, `${pages.length} pages`)
    t.ok(pages.every((m) => m[2] === String(pages.length)), 'every page says of M')
    t.same(pages.map((m) => Number(m[1])), pages.map((_m, i) => i + 1))
    t.equal(text.split('Statement of account').length - 1, pages.length, 'a header on every page')
    // The long reference wraps inside its column: its lines follow one another, nothing else on them.
    const lines = text.split('\n')
    const at = lines.findIndex((l) => l.includes('REF-very-long'))
    t.ok(at > 0, 'the reference is printed')
    let joined = /REF-\S+/.exec(lines[at])![0]
    for (let i = at + 1; i < lines.length && lines[i].trim() && !/\d{4}-\d{2}-\d{2}/.test(lines[i]); i++) joined += lines[i].trim()
    t.equal(joined, longRef, 'wrapped, not cut and not overprinted')
    if (process.env.STATEMENT_PNG) fs.writeFileSync(process.env.STATEMENT_PNG, res.rawPayload)

    const cashier = await env.key(tenant.key, 'accountant')
    const limited = await env.app.inject({ method: 'GET', url: `/v1/customers/${cus.id}/statement?format=pdf`, headers: { authorization: `Bearer ${cashier.secret}` } })
    t.notOk(pdfText(limited.rawPayload).includes('Piotrkowska'), 'no address for a key that may not view personal data')
  })

  await t.test('a statement run with e-mail delivery arrives with the PDF attached', async (t) => {
    const worker = await startWorker({
      config: env.config,
      db: env.db,
      registry: workerRegistry(env.config),
      log: pino({ level: 'silent' }),
      options: { closeGraceMs: 2000, stalledIntervalMs: 5000, lockDurationMs: 5000, schedules: false, sweeps: false },
    })
    t.teardown(() => worker.close())
    const noChannel = await api.post('/v1/statement-runs', { from: '2026-10-01', to: '2026-12-31', deliver: 'email' })
    t.equal(noChannel.statusCode, 422)
    t.equal(noChannel.body.error.code, 'channel_unavailable')
    await api.post('/v1/notification-channels', { name: 'Mail', plugin: 'email-smtp', config: { host: '127.0.0.1', port: smtp.port, from: 'billing@krakow.example' } })
    const other = (await api.post('/v1/customers', { name: 'No Mail Ltd' })).body
    const run = await api.post('/v1/statement-runs', { from: '2026-10-01', to: '2026-12-31', customers: [cus.id, other.id], deliver: 'email' })
    t.equal(run.statusCode, 201, run.raw)
    t.match(run.body, { id: /^str_/, status: 'queued', total: 2, done: 0, failed: 0 })
    const done = await waitFor('run completed', async () => {
      const r = (await api.get(`/v1/statement-runs/${run.body.id}`)).body
      return r.status === 'completed' ? r : null
    }, 30000)
    t.match(done, { total: 2, done: 2, failed: 0 })
    await waitFor('mail', () => smtp.mails.length === 1, 30000)
    const mail = smtp.mails[0]
    t.same(mail.to, ['yamada@kebab.example'])
    t.match(mail.raw, /Content-Type: application\/pdf/)
    t.match(mail.raw, /statement-cus_/)
    const withMail = done.statements.find((s: { customer: string }) => s.customer === cus.id)
    t.ok(withMail.notification)
    t.ok(withMail.size > 1000)
    const pdf = await env.app.inject({ method: 'GET', url: `/v1/statement-runs/${run.body.id}/statements/${withMail.id}`, headers: { authorization: `Bearer ${tenant.key}` } })
    t.ok(pdfText(pdf.rawPayload).includes(NAME))
  })
})

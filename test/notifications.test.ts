import t from 'tap'
import pino from 'pino'
import { Webhook } from 'standardwebhooks'
import { workerRegistry } from '../core/jobs/registry'
import { startWorker } from '../core/jobs/worker'
import { sweepNotifications, DEFAULT_SEND_SETTINGS } from '../core/workflows/notify'
import { setupTestEnv, type TestEnv } from './helpers/app'
import { startReceiver, waitFor } from './helpers/webhooks'
import { execFileSync } from 'node:child_process'
import { pdfAttachment, startSmtp } from './helpers/smtp'

async function startNotifyWorker(t: Parameters<typeof setupTestEnv>[0], env: TestEnv) {
  const worker = await startWorker({
    config: env.config,
    db: env.db,
    registry: workerRegistry(env.config, { notifications: { backoffMs: () => 100, maxAttempts: 4 } }),
    log: pino({ level: 'silent' }),
    options: { closeGraceMs: 2000, stalledIntervalMs: 5000, lockDurationMs: 5000, schedules: false, sweeps: false },
  })
  t.teardown(() => worker.close())
  return worker
}

t.test('notifications end to end against a real SMTP server', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ name: 'Łódź Kebab — 山田商店' })
  const api = env.api(tenant.key)
  // 1st message: 451 twice (temporary), then accepted; `reject550` turns the next one into a permanent failure.
  let reject550 = false
  const smtp = await startSmtp(t, (n) => {
    if (reject550) {
      reject550 = false
      return 550
    }
    return n < 2 ? 451 : null
  })
  await t.test('worker', async (t) => {
    await startNotifyWorker(t, env)

    const ch = await api.post('/v1/notification-channels', { name: 'Mail', plugin: 'email-smtp', config: { host: '127.0.0.1', port: smtp.port, from: 'Shop <billing@shop.example>', user: 'u', password: 'hunter2' } })
    t.equal(ch.statusCode, 201, ch.raw)
    t.equal(ch.body.config.password, '****', 'secret masked on create')
    t.equal(ch.body.kind, 'email')
    const read = await api.get(`/v1/notification-channels/${ch.body.id}`)
    t.equal(read.body.config.password, '****')
    t.notOk(read.raw.includes('hunter2'))
    t.notOk((await api.get('/v1/notification-channels')).raw.includes('hunter2'))
    const stored = await env.admin('notification_channels').where({ id: ch.body.id }).first()
    t.equal(stored.config.password, 'hunter2', 'the secret is kept')
    // PATCH without the secret (or masked) keeps it; auth is disabled on the test server, so drop the user.
    const patched = await api.patch(`/v1/notification-channels/${ch.body.id}`, { config: { password: '****', port: smtp.port } })
    t.equal(patched.statusCode, 200, patched.raw)
    t.equal((await env.admin('notification_channels').where({ id: ch.body.id }).first()).config.password, 'hunter2')
    await env.admin('notification_channels').where({ id: ch.body.id }).update({ config: JSON.stringify({ host: '127.0.0.1', port: smtp.port, from: 'Shop <billing@shop.example>', secure: false }) })

    const badCfg = await api.post('/v1/notification-channels', { name: 'Bad', plugin: 'email-smtp', config: { port: 25 } })
    t.equal(badCfg.statusCode, 400)
    t.equal(badCfg.body.error.param, 'config')
    const badPlugin = await api.post('/v1/notification-channels', { name: 'Bad', plugin: 'coa-standard', config: {} })
    t.equal(badPlugin.statusCode, 400)
    t.equal(badPlugin.body.error.param, 'plugin')

    const cus = (await api.post('/v1/customers', { name: 'Łódź Kebab — 山田商店', email: 'owner@kebab.example', phone: '+48123456789' })).body
    await api.post('/v1/invoices', { customer: cus.id, lines: [{ description: 'Kebabs', quantity: 3, unit_amount: 1250 }] })

    await t.test('a temporary failure (451) is retried until sent; exactly one message arrives', async (t) => {
      const res = await api.post('/v1/notifications', { customer: cus.id, template: 'payment_reminder', data: { note: 'x' } })
      t.equal(res.statusCode, 201, res.raw)
      t.match(res.body, { id: /^ntf_/, status: 'queued' })
      const sent = await waitFor('sent', async () => {
        const n = (await api.get(`/v1/notifications/${res.body.id}`)).body
        return n.status === 'sent' ? n : null
      })
      t.equal(sent.attempts.length, 3)
      t.same(sent.attempts.map((a: { status: string }) => a.status), ['failed', 'failed', 'sent'])
      t.ok(sent.attempts[0].retryable)
      t.equal(sent.to, 'owner@kebab.example')
      t.equal(smtp.mails.length, 1, 'one message delivered')
      const mail = smtp.mails[0]
      t.same(mail.to, ['owner@kebab.example'])
      t.match(mail.raw, new RegExp(`Message-ID: <${res.body.id}@shop.example>`, 'i'))
      t.ok(mail.raw.includes('Subject: =?UTF-8?Q?Payment_reminder_from_'), 'rendered subject')
      t.match(sent.body, /Dear Łódź Kebab — 山田商店/)
      t.match(sent.body, /37\.50 USD/)
      const comms = await api.get(`/v1/customers/${cus.id}/communications`)
      t.equal(comms.body.data.length, 1)
      const events = (await api.get('/v1/events?type=notification.sent')).body.data
      t.equal(events.length, 1, 'notification.sent through the outbox')
      t.equal(events[0].data.object.id, res.body.id)
      t.match(comms.body.data[0], { type: 'email', direction: 'outbound', notification: res.body.id })
      const accountant = env.api((await env.key(tenant.key, 'accountant')).secret)
      const seen = await accountant.get(`/v1/notifications/${res.body.id}`)
      t.equal(seen.statusCode, 200)
      t.notOk('to' in seen.body, 'the recipient (an e-mail address) is personal data')
      t.notOk(seen.raw.includes('owner@kebab.example'))
      const list = await api.get(`/v1/notifications?customer=${cus.id}&status=sent`)
      t.equal(list.body.data.length, 1)
      const metrics = await env.app.inject({ method: 'GET', url: '/metrics' })
      t.match(metrics.body, /notifications_sent_total\{outcome="sent"\} \d/)
    })

    await t.test('a row left `sending` after a crash becomes failed / unknown_outcome and is never resent', async (t) => {
      const before = smtp.mails.length
      const res = await api.post('/v1/notifications', { customer: cus.id, template: 'receipt' })
      await waitFor('sent', async () => (await api.get(`/v1/notifications/${res.body.id}`)).body.status === 'sent')
      // A second notification claimed by a process that died before recording: simulate the claim.
      const [row] = await env.admin('notifications')
        .insert({ tenant_id: tenant.uuid, id: 'ntf_0000000000crashcrashcrashx', customer_id: cus.id, template: 'receipt', status: 'sending', attempt_count: 1, recipient: 'owner@kebab.example', source: 'api', created_by: 'test', updated_at: env.admin.raw(`now() - interval '1 hour'`) })
        .returning('id')
      const enqueued: string[] = []
      const out = await sweepNotifications(env.db, tenant.uuid, DEFAULT_SEND_SETTINGS, async (_t, items) => void enqueued.push(...items.map((i) => i.id)), 1000)
      t.same(out.unknown, [row.id])
      t.notOk(enqueued.includes(row.id), 'the unknown outcome is not enqueued again')
      const n = (await api.get(`/v1/notifications/${row.id}`)).body
      t.equal(n.status, 'failed')
      t.equal(n.last_error.code, 'unknown_outcome')
      t.match(n.attempts, [{ status: 'unknown_outcome' }])
      // A second sweep does nothing more, and nothing is sent for it.
      const again = await sweepNotifications(env.db, tenant.uuid, DEFAULT_SEND_SETTINGS, async (_t, items) => void enqueued.push(...items.map((i) => i.id)), 1000)
      t.same(again.unknown, [])
      t.notOk(enqueued.includes(row.id))
      t.equal(smtp.mails.length, before + 1, 'only the receipt went out')
      // A person retries: it goes out once.
      const retry = await api.post(`/v1/notifications/${row.id}/retry`)
      t.equal(retry.statusCode, 200, retry.raw)
      t.equal(retry.body.status, 'queued')
      await waitFor('resent', async () => (await api.get(`/v1/notifications/${row.id}`)).body.status === 'sent')
      t.equal(smtp.mails.length, before + 2)
      t.equal((await api.post(`/v1/notifications/${row.id}/retry`)).body.error.code, 'invalid_state', 'a sent one cannot be retried')
    })

    await t.test('a permanent failure (550) is dead at once; a person’s retry sends it', async (t) => {
      const before = smtp.mails.length
      reject550 = true
      const n = (await api.post('/v1/notifications', { customer: cus.id, template: 'dispute_update', data: { dispute: { id: 'dsp_x', status: 'won' } } })).body
      const dead = await waitFor('dead', async () => {
        const x = (await api.get(`/v1/notifications/${n.id}`)).body
        return x.status === 'dead' ? x : null
      })
      t.equal(dead.attempts.length, 1)
      t.match(dead.attempts[0], { status: 'failed', retryable: false, error: /550/ })
      t.equal(smtp.mails.length, before)
      t.equal((await api.post(`/v1/notifications/${n.id}/retry`)).body.status, 'queued')
      const sent = await waitFor('sent', async () => {
        const x = (await api.get(`/v1/notifications/${n.id}`)).body
        return x.status === 'sent' ? x : null
      })
      t.equal(sent.attempts.length, 2)
      t.match(sent.body, /dispute dsp_x is now won/)
      t.equal(smtp.mails.length, before + 1)
    })

    await t.test('communications: log entries and promises to pay', async (t) => {
      const promise = await api.post(`/v1/customers/${cus.id}/communications`, { type: 'promise_to_pay', direction: 'inbound', summary: 'Will pay Friday', promised_amount: 3750, promised_date: '2026-12-18' })
      t.equal(promise.statusCode, 201, promise.raw)
      t.match(promise.body, { id: /^com_/, type: 'promise_to_pay', promised_amount: 3750, promised_date: '2026-12-18' })
      const noDate = await api.post(`/v1/customers/${cus.id}/communications`, { type: 'promise_to_pay', direction: 'inbound', summary: 'x', promised_amount: 10 })
      t.equal(noDate.statusCode, 400)
      t.equal(noDate.body.error.param, 'promised_date')
      const stray = await api.post(`/v1/customers/${cus.id}/communications`, { type: 'call', direction: 'outbound', summary: 'x', promised_amount: 10 })
      t.equal(stray.statusCode, 400)
      t.equal((await api.post(`/v1/customers/${cus.id}/communications`, { type: 'fax', direction: 'outbound', summary: 'x' })).statusCode, 400)
      const calls = await api.get(`/v1/customers/${cus.id}/communications?type=promise_to_pay`)
      t.equal(calls.body.data.length, 1)
      t.equal((await api.get('/v1/customers/cus_00000000000000000000000000/communications')).statusCode, 404)
    })

    await t.test('suppression by preference and by withdrawn consent', async (t) => {
      const before = smtp.mails.length
      const c2 = (await api.post('/v1/customers', { name: 'Quiet', email: 'quiet@x.example' })).body
      await env.admin('customers').where({ id: c2.id }).update({ preferences: JSON.stringify({ email: false }) })
      const n1 = (await api.post('/v1/notifications', { customer: c2.id, template: 'payment_reminder' })).body
      const s1 = await waitFor('suppressed', async () => ((await api.get(`/v1/notifications/${n1.id}`)).body.status === 'suppressed' ? (await api.get(`/v1/notifications/${n1.id}`)).body : null))
      t.equal(s1.suppressed_reason, 'preference:email')

      const c3 = (await api.post('/v1/customers', { name: 'Withdrawn', email: 'w@x.example' })).body
      t.equal((await api.post(`/v1/customers/${c3.id}/consents`, { purpose: 'email', granted: true, source: 'web_form' })).statusCode, 201)
      t.equal((await api.post(`/v1/customers/${c3.id}/consents`, { purpose: 'email', granted: false, source: 'phone_call' })).statusCode, 201)
      const consents = (await api.get(`/v1/customers/${c3.id}/consents`)).body
      t.equal(consents.history.length, 2, 'history kept')
      t.match(consents.current, [{ purpose: 'email', granted: false }])
      const n2 = (await api.post('/v1/notifications', { customer: c3.id, template: 'payment_reminder' })).body
      const s2 = await waitFor('suppressed', async () => {
        const n = (await api.get(`/v1/notifications/${n2.id}`)).body
        return n.status === 'suppressed' ? n : null
      })
      t.equal(s2.suppressed_reason, 'consent:email')

      // A customer deleted after the notification was queued gets nothing.
      const c4 = (await api.post('/v1/customers', { name: 'Gone', email: 'gone@x.example' })).body
      const n3 = (await api.post('/v1/notifications', { customer: c4.id, template: 'payment_reminder' })).body
      await waitFor('settled', async () => (await api.get(`/v1/notifications/${n3.id}`)).body.status !== 'queued')
      const c5 = (await api.post('/v1/customers', { name: 'Gone later', email: 'later@x.example' })).body
      t.equal((await api.delete(`/v1/customers/${c5.id}`, { reason: 'closed' })).statusCode, 200)
      await env.admin('notifications').insert({ tenant_id: tenant.uuid, id: 'ntf_0000000000deleteddeleteddd', customer_id: c5.id, template: 'payment_reminder', status: 'queued', source: 'credit_policy', created_by: 'test' })
      await sweepNotifications(env.db, tenant.uuid, DEFAULT_SEND_SETTINGS, (await import('../core/notifications/jobs')).enqueueNotifications, 1000)
      const s3 = await waitFor('suppressed', async () => {
        const n = (await api.get('/v1/notifications/ntf_0000000000deleteddeleteddd')).body
        return n.status === 'suppressed' ? n : null
      })
      t.equal(s3.suppressed_reason, 'customer:deleted')
      t.equal(smtp.mails.length, before + 1, 'only the live customer got mail')
    })

    await t.test('anonymizing a customer erases the rendered texts of its notifications', async (t) => {
      const c6 = (await api.post('/v1/customers', { name: 'Zofia Erasable', email: 'zofia@x.example' })).body
      const n = (await api.post('/v1/notifications', { customer: c6.id, template: 'reactivation_notice' })).body
      const sent = await waitFor('sent', async () => {
        const x = (await api.get(`/v1/notifications/${n.id}`)).body
        return x.status === 'sent' ? x : null
      })
      t.match(sent.body, /Zofia Erasable/)
      const anon = await api.post(`/v1/customers/${c6.id}/anonymize`, { reason: 'erasure request' })
      t.equal(anon.statusCode, 200, anon.raw)
      const after = (await api.get(`/v1/notifications/${n.id}`)).body
      t.match(after, { status: 'sent', to: null, subject: null, body: null })
      const row = await env.admin('notifications').where({ id: n.id }).first()
      t.notOk(JSON.stringify(row).includes('Zofia'), 'nothing of the name left in the row')
    })

    await t.test('a notification the credit policy inserted is picked up by the sweep', async (t) => {
      const before = smtp.mails.length
      await env.admin('notifications').insert({ tenant_id: tenant.uuid, id: 'ntf_0000000000policypolicypoli', customer_id: cus.id, template: 'overdue_warning_1', status: 'queued', source: 'credit_policy', created_by: 'system:credit-policy' })
      await sweepNotifications(env.db, tenant.uuid, DEFAULT_SEND_SETTINGS, (await import('../core/notifications/jobs')).enqueueNotifications, 1000)
      await waitFor('sent', async () => (await api.get('/v1/notifications/ntf_0000000000policypolicypoli')).body.status === 'sent')
      t.equal(smtp.mails.length, before + 1)
      t.match(smtp.mails.at(-1)!.raw, /Subject: Your account is overdue/)
      // The overdue warning carries its dunning letter.
      const letter = pdfAttachment(smtp.mails.at(-1)!.raw)
      t.ok(letter, 'a PDF is attached')
      t.match(letter!.filename, /^letter-level-1-cus_/)
      const text = execFileSync('pdftotext', ['-layout', '-', '-'], { input: letter!.content, encoding: 'utf8' })
      t.ok(text.includes('Payment reminder'), 'level-1 title')
      t.ok(text.includes('Łódź Kebab — 山田商店'), 'customer name in any script')
      t.ok(text.includes('Overdue invoices'))
      t.match(text, /Page 1 of 1/)
    })

    await t.test('sms-http to a local gateway, and the webhook channel signed like webhooks', async (t) => {
      const gateway = await startReceiver(t, () => ({ status: 200, body: '{"message_id":"gw-1"}' }))
      const sms = (await api.post('/v1/notification-channels', { name: 'SMS', plugin: 'sms-http', config: { url: gateway.url, api_key: 'k-secret', sender: 'SHOP' } })).body
      t.equal(sms.config.api_key, '****')
      const n = (await api.post('/v1/notifications', { customer: cus.id, template: 'reactivation_notice', channel: sms.id })).body
      const done = await waitFor('sent', async () => {
        const x = (await api.get(`/v1/notifications/${n.id}`)).body
        return x.status === 'sent' ? x : null
      })
      t.equal(done.provider_id, 'gw-1')
      t.equal(gateway.requests.length, 1)
      const body = JSON.parse(gateway.requests[0].body)
      t.match(body, { id: n.id, to: '+48123456789', sender: 'SHOP' })
      t.equal(gateway.requests[0].headers.authorization, 'Bearer k-secret')

      const hook = await startReceiver(t)
      const secret = 'whsec_' + Buffer.from('0123456789abcdef0123456789abcdef').toString('base64')
      const wh = (await api.post('/v1/notification-channels', { name: 'Hook', plugin: 'webhook', config: { url: hook.url, secret } })).body
      const test = await api.post(`/v1/notification-channels/${wh.id}/test`, { to: cus.id })
      t.equal(test.statusCode, 200, test.raw)
      t.equal(test.body.status, 'sent')
      const r = hook.requests[0]
      const verified = new Webhook(secret).verify(r.body, r.headers) as { type: string }
      t.equal(verified.type, 'notification')
    })
  })
})

t.test('templates: defaults, validation, per language', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const list = await api.get('/v1/notification-templates')
  t.equal(list.statusCode, 200)
  const keys = list.body.data.map((x: { key: string }) => x.key)
  for (const k of ['payment_reminder', 'overdue_warning_1', 'overdue_warning_2', 'overdue_warning_3', 'suspension_notice', 'reactivation_notice', 'statement', 'receipt', 'dispute_update']) t.ok(keys.includes(k), k)
  t.ok(list.body.data.every((x: { source: string }) => x.source === 'default'))

  const ok = await api.put('/v1/notification-templates/payment_reminder', { subject: 'Hej {{customer.name}}', body: 'Do zapłaty: {{balance}} {{currency}}{{#invoices}}\n{{number}} {{due_date}}{{/invoices}} {{data.note}}', language: 'pl' })
  t.equal(ok.statusCode, 200, ok.raw)
  t.match(ok.body, { key: 'payment_reminder', language: 'pl', source: 'tenant' })

  const bad = [
    [{ body: 'Hello {{customer.nmae}}' }, 'body'],
    [{ subject: '{{secret}}', body: 'x' }, 'subject'],
    [{ body: '{{> partial}}' }, 'body'],
    [{ body: '{{#invoices}}unclosed' }, 'body'],
    [{ body: '{{number}} outside the section' }, 'body'],
    [{ body: 'x'.repeat(16385) }, 'body'],
  ] as const
  const before = Number((await env.admin('notification_templates').count('* as n'))[0].n)
  for (const [body, param] of bad) {
    const res = await api.put('/v1/notification-templates/payment_reminder', body)
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 60))
    t.equal(res.body.error.code, 'template_invalid')
    t.equal(res.body.error.param, param)
  }
  t.equal(Number((await env.admin('notification_templates').count('* as n'))[0].n), before, 'nothing written')
  const cashier = await env.key(tenant.key, 'cashier')
  t.equal((await env.api(cashier.secret).put('/v1/notification-templates/receipt', { body: 'x' })).statusCode, 403)
})

t.test('channels refuse internal targets unless private targets are allowed', async (t) => {
  const env = await setupTestEnv(t, { WEBHOOK_ALLOW_PRIVATE_TARGETS: false })
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const smtp = await startSmtp(t)
  const mail = (await api.post('/v1/notification-channels', { name: 'Mail', plugin: 'email-smtp', config: { host: '127.0.0.1', port: smtp.port, from: 'a@b.example' } })).body
  const res = await api.post(`/v1/notification-channels/${mail.id}/test`, { to: 'x@y.example' })
  t.equal(res.statusCode, 200, res.raw)
  t.match(res.body, { status: 'failed', error: /^ssrf_refused: refused to connect to 127\.0\.0\.1 \(loopback/ })
  t.equal(smtp.tries(), 0, 'no connection made')
  const gateway = await startReceiver(t)
  const sms = (await api.post('/v1/notification-channels', { name: 'SMS', plugin: 'sms-http', config: { url: gateway.url } })).body
  const res2 = await api.post(`/v1/notification-channels/${sms.id}/test`, { to: '+15550100' })
  t.match(res2.body, { status: 'failed', error: /^ssrf_refused/ })
  t.equal(gateway.connections(), 0)
  const deleted = await api.delete(`/v1/notification-channels/${sms.id}`)
  t.equal(deleted.statusCode, 200)
  t.equal((await api.get(`/v1/notification-channels/${sms.id}`)).statusCode, 404)
})

import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { setupTestEnv, type TestEnv } from './helpers/app'
import { balance, intact, invoice, payment } from './helpers/ledger'
import { startReceiver, startTestWorker, waitFor } from './helpers/webhooks'

/**
 * Every text, json, jsonb and bytea column of every table (the admin connection sees past RLS)
 * searched for each string: the places it still appears.
 */
async function findEverywhere(env: TestEnv, needles: string[]): Promise<string[]> {
  const { rows: cols } = await env.admin.raw(
    `select c.table_schema, c.table_name, c.column_name, c.data_type
       from information_schema.columns c join information_schema.tables tb on tb.table_schema = c.table_schema and tb.table_name = c.table_name
      where c.table_schema not in ('pg_catalog', 'information_schema') and tb.table_type = 'BASE TABLE'
        and c.data_type in ('text', 'character varying', 'json', 'jsonb', 'bytea', 'ARRAY')`,
  )
  const hits: string[] = []
  for (const c of cols) {
    const col = `"${c.column_name}"`
    const expr = c.data_type === 'bytea' ? `position(convert_to(?, 'UTF8') in ${col}) > 0` : `${col}::text like '%' || ? || '%'`
    for (const needle of needles) {
      const { rows } = await env.admin.raw(`select count(*)::int as n from "${c.table_schema}"."${c.table_name}" where ${expr}`, [needle])
      if (rows[0].n) hits.push(`${c.table_name}.${c.column_name}: ${needle} (${rows[0].n})`)
    }
  }
  return hits
}

t.test('privacy: sealing, export, anonymization', async (t) => {
  const env = await setupTestEnv(t)
  const receiver = await startReceiver(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const compliance = env.api((await env.key(tenant.key, 'compliance')).secret)
  const accountant = env.api((await env.key(tenant.key, 'accountant')).secret)
  const auditor = env.api((await env.key(tenant.key, 'auditor')).secret)
  const ep = await api.post('/v1/webhook-endpoints', { url: receiver.url, events: ['*'] })
  t.equal(ep.statusCode, 201, ep.raw)

  const pii = {
    name: 'Zelda Quixotic-Privacy',
    email: 'zelda.quixotic@privacy.example',
    phone: '+15550001234777',
    tax_id: 'TAX-ZQ-998877',
  }
  const created = await api.post(
    '/v1/customers',
    { ...pii, billing_address: { line1: '7 Wisteria Lane Privacy', city: 'Springfield', postal_code: '12345', country: 'US' }, metadata: { loyalty: 'gold-zq-31337' }, external_id: 'EXT-ZQ-4242' },
    { 'idempotency-key': 'create-zelda' },
  )
  t.equal(created.statusCode, 201, created.raw)
  const id = created.body.id as string
  const replay = await api.post(
    '/v1/customers',
    { ...pii, billing_address: { line1: '7 Wisteria Lane Privacy', city: 'Springfield', postal_code: '12345', country: 'US' }, metadata: { loyalty: 'gold-zq-31337' }, external_id: 'EXT-ZQ-4242' },
    { 'idempotency-key': 'create-zelda' },
  )
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.same(replay.body, created.body, 'the idempotent replay is opened: the first response as it was')

  const patched = await api.patch(`/v1/customers/${id}`, { phone: '+15550009999777' })
  t.equal(patched.statusCode, 200, patched.raw)
  const inv = await invoice(api, id, 1000)
  await payment(api, id, 400, { allocations: [{ invoice: inv.id, amount: 400 }] })

  // The mutable message stores (rows as the notifications and communications modules write them).
  await env.admin('notifications').insert({ tenant_id: tenant.uuid, id: 'ntf_privacy1', customer_id: id, template: 'reminder', recipient: pii.email, data: { name: pii.name }, source: 'api', created_by: 'test' })
  await env.admin('communications').insert({ tenant_id: tenant.uuid, id: 'com_privacy1', customer_id: id, type: 'call', direction: 'outbound', summary: `Called ${pii.name} on ${pii.phone}`, occurred_at: new Date(), created_by: 'test' })

  // Another tenant's customer, untouched by what follows.
  const other = await env.tenant()
  const otherApi = env.api(other.key)
  const otherCustomer = await otherApi.post('/v1/customers', { name: 'Other Tenant Person', email: 'other.person@privacy.example' })
  t.equal(otherCustomer.statusCode, 201)

  await t.test('stores hold personal data sealed; reads open it', async (t) => {
    const raw = await findEverywhere(env, [pii.email, pii.tax_id])
    t.same(raw.filter((h) => !/^(customers|notifications|communications)\./.test(h)), [], 'only the mutable stores hold it in clear')
    const events = await api.get(`/v1/events?limit=100`)
    const createdEvent = events.body.data.find((e: any) => e.type === 'customer.created' && e.data.object.id === id)
    t.match(createdEvent.data.object, { email: pii.email, tax_id: pii.tax_id, name: pii.name, metadata: { loyalty: 'gold-zq-31337' } })
    const audit = await api.get(`/v1/audit-log?entity=${id}`)
    const update = audit.body.data.find((a: any) => a.action === 'customer.updated')
    t.match(update, { before: { phone: pii.phone }, after: { phone: '+15550009999777', email: pii.email } })
    t.same(await api.get('/v1/audit-log/verify').then((r) => r.body.ok), true)
  })

  await t.test('a role without customers.pii.view never sees personal data', async (t) => {
    for (const url of [`/v1/customers/${id}`, `/v1/audit-log?entity=${id}`, '/v1/events?limit=100']) {
      const res = await (url.startsWith('/v1/audit') ? auditor : accountant).get(url)
      t.equal(res.statusCode, 200, url)
      t.notOk(res.raw.includes(pii.email) || res.raw.includes(pii.tax_id) || res.raw.includes(pii.phone), `${url} shows no e-mail, tax id or phone`)
    }
    t.equal((await accountant.get(`/v1/customers/${id}/export`)).statusCode, 403)
    t.equal((await accountant.post(`/v1/customers/${id}/anonymize`, { reason: 'x' })).statusCode, 403)
  })

  let delivered: { body: string; headers: Record<string, string> }
  await t.test('webhooks carry the opened payload, signed', async (t) => {
    await startTestWorker(t, env, { retryScheduleMs: [100], allowPrivateTargets: true })
    delivered = await waitFor('customer.created delivery', () => receiver.requests.find((r) => JSON.parse(r.body).type === 'customer.created' && JSON.parse(r.body).data.object.id === id))
    t.match(JSON.parse(delivered.body).data.object, { email: pii.email, name: pii.name })
    t.ok(new Webhook(ep.body.secret).verify(delivered.body, delivered.headers), 'signature verifies')

    await t.test('export holds all of it', async (t) => {
      const consent = await env.api(tenant.key).post(`/v1/customers/${id}/consents`, { purpose: 'email', granted: false, source: 'phone call' })
      t.equal(consent.statusCode, 201, consent.raw)
      const res = await compliance.get(`/v1/customers/${id}/export`)
      t.equal(res.statusCode, 200)
      const x = res.body
      t.match(x.customer, { id, email: pii.email, phone: '+15550009999777', tax_id: pii.tax_id })
      t.equal(x.documents.invoices.length, 1)
      t.equal(x.documents.invoices[0].lines.length, 1)
      t.equal(x.documents.payments.length, 1)
      t.equal(x.documents.allocations.length, 1)
      t.ok(x.transactions.length >= 2)
      t.match(x.notifications, [{ id: 'ntf_privacy1', recipient: pii.email }])
      t.match(x.communications, [{ id: 'com_privacy1' }])
      t.match(x.consents, [{ purpose: 'email', granted: false, source: 'phone call' }], 'consents, as given and withdrawn')
      t.ok(x.audit_entries.some((a: any) => a.action === 'customer.created' && a.after.email === pii.email), 'audit entries opened')
      t.ok(x.events.some((e: any) => e.type === 'customer.created' && e.data.object.tax_id === pii.tax_id), 'events opened')
      t.same(x.truncated, [])
      t.equal(x.limits.section_max, 5000)
    })

    await t.test('anonymize is refused with a balance or an open dispute', async (t) => {
      let res = await compliance.post(`/v1/customers/${id}/anonymize`, { reason: 'GDPR erasure request' })
      t.equal(res.statusCode, 409)
      t.equal(res.body.error.code, 'customer_has_balance')
      await payment(api, id, 600, { allocations: [{ invoice: inv.id, amount: 600 }] })
      t.same(await balance(api, id), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
      const dispute = await api.post('/v1/disputes', { type: 'billing_error', invoice: inv.id, amount: 10, reason: 'wrong price' })
      t.equal(dispute.statusCode, 201, dispute.raw)
      res = await compliance.post(`/v1/customers/${id}/anonymize`, { reason: 'GDPR erasure request' })
      t.equal(res.statusCode, 409)
      t.equal(res.body.error.code, 'dispute_open')
      const resolved = await api.post(`/v1/disputes/${dispute.body.id}/resolve`, { outcome: 'rejected', resolution: 'price was right' })
      t.equal(resolved.statusCode, 200, resolved.raw)

      // The credit policy evaluated the customer after the payment: its stored state keeps the facts,
      // never a copy of the metadata (personal: it would outlive the anonymization below).
      const state = await waitFor('the credit-policy evaluation', () => env.admin('credit_policy_states').where({ tenant_id: tenant.uuid, customer_id: id }).whereNotNull('evaluated_at').first())
      t.equal(state.facts.status, 'active', 'the facts are kept')
      t.notOk('metadata' in state.facts, 'but not the metadata')
      t.same(await findEverywhere(env, ['gold-zq-31337']), ['customers.metadata: gold-zq-31337 (1)'], 'the metadata is held in the customer row only')
    })

    await t.test('anonymize erases the personal data everywhere; amounts, ledger and chain stay', async (t) => {
      const tbBefore = (await api.get('/v1/trial-balance')).body
      const res = await compliance.post(`/v1/customers/${id}/anonymize`, { reason: 'GDPR erasure request' })
      t.equal(res.statusCode, 200, res.raw)
      t.match(res.body, { id, name: 'Anonymized customer', email: null, phone: null, tax_id: null, billing_address: null, external_id: null, metadata: {}, status: 'inactive' })
      t.ok(res.body.anonymized_at)
      t.equal((await compliance.post(`/v1/customers/${id}/anonymize`, { reason: 'again' })).body.error.code, 'customer_inactive', 'once only')

      const hits = await findEverywhere(env, [pii.email, pii.name, pii.phone, '+15550009999777', pii.tax_id, 'Wisteria Lane Privacy', 'gold-zq-31337', 'EXT-ZQ-4242'])
      t.same(hits, [], 'no trace of the personal data in any column of any table')

      t.same((await api.get('/v1/audit-log/verify')).body, { ok: true, checked: (await api.get('/v1/audit-log/verify')).body.checked, first_invalid_seq: null, problem: null }, 'the audit chain verifies')
      await intact(t, env, tenant.uuid)
      t.same((await api.get('/v1/trial-balance')).body, tbBefore, 'trial balance unchanged')
      t.same(await balance(api, id), { pending_balance: 0, advance_balance: 0, current_balance: 0 })
      t.equal((await api.get(`/v1/invoices/${inv.id}`)).body.total, 1000, 'amounts stay')

      const audit = await api.get(`/v1/audit-log?entity=${id}&limit=100`)
      const createdEntry = audit.body.data.find((a: any) => a.action === 'customer.created')
      t.match(createdEntry.after, { id, email: null, name: null, tax_id: null, currency: 'usd' }, 'audit entries read back with nulls')
      const anonEntry = audit.body.data.find((a: any) => a.action === 'customer.anonymized')
      t.match(anonEntry, { reason: 'GDPR erasure request', after: { data_key: 'destroyed' } })

      const again = await api.post(
        '/v1/customers',
        { ...pii, billing_address: { line1: '7 Wisteria Lane Privacy', city: 'Springfield', postal_code: '12345', country: 'US' }, metadata: { loyalty: 'gold-zq-31337' }, external_id: 'EXT-ZQ-4242' },
        { 'idempotency-key': 'create-zelda' },
      )
      t.equal(again.headers['idempotent-replayed'], 'true')
      t.match(again.body, { id, email: null, tax_id: null }, 'the stored response replays without personal data')
      t.notOk(again.raw.includes(pii.name), 'not even the name')

      const inv2 = await api.post('/v1/invoices', { customer: id, lines: [{ description: 'x', quantity: 1, unit_amount: 1 }] })
      t.equal(inv2.statusCode, 422)
      t.equal(inv2.body.error.code, 'customer_inactive', 'an anonymized customer takes no documents')
      t.equal((await api.patch(`/v1/customers/${id}`, { email: 'new@example.com' })).body.error.code, 'customer_inactive')

      const n = receiver.requests.length
      const redo = await api.post(`/v1/events/${delivered.headers['webhook-id']}/redeliver`)
      t.ok(redo.statusCode < 300, redo.raw)
      const again2 = await waitFor('the redelivery', () => receiver.requests.slice(n).find((r) => r.headers['webhook-id'] === delivered.headers['webhook-id']))
      t.notOk([pii.email, pii.name, pii.phone, pii.tax_id].some((s) => again2.body.includes(s)), 'a redelivered old event carries no personal data')
      t.match(JSON.parse(again2.body).data.object, { id, email: null, name: null })
      t.ok(new Webhook(ep.body.secret).verify(again2.body, again2.headers), 'and is signed')
      await waitFor('the anonymized event', () => receiver.requests.find((r) => JSON.parse(r.body).type === 'customer.anonymized'))
      t.same(await findEverywhere(env, [pii.email, pii.tax_id]), [], 'still nothing after deliveries')

      const o = await otherApi.get(`/v1/customers/${otherCustomer.body.id}`)
      t.equal(o.body.email, 'other.person@privacy.example', 'other tenants unaffected')
      const oe = await otherApi.get('/v1/events')
      t.equal(oe.body.data.find((e: any) => e.type === 'customer.created').data.object.email, 'other.person@privacy.example')
    })
  })
})

t.test('DATA_ENCRYPTION_KEY: a development default, refused in production', async (t) => {
  const { loadConfig, DEV_DATA_ENCRYPTION_KEY } = await import('../core/kernel/config')
  const prod = { NODE_ENV: 'production', PLATFORM_ADMIN_TOKEN: 'a-real-production-admin-token' }
  t.equal(loadConfig({}, {}).DATA_ENCRYPTION_KEY, DEV_DATA_ENCRYPTION_KEY)
  t.throws(() => loadConfig({}, prod), /DATA_ENCRYPTION_KEY must be set in production/)
  t.equal(loadConfig({}, { ...prod, DATA_ENCRYPTION_KEY: 'x'.repeat(40) }).DATA_ENCRYPTION_KEY, 'x'.repeat(40))
  t.throws(() => loadConfig({}, { DATA_ENCRYPTION_KEY: 'short' }), 'at least 32 characters')
})

import t from 'tap'
import { setupTestEnv, TestEnv } from './helpers/app'

/** Row counts of everything a customer write touches, read as superuser (across all tenants). */
async function counts(env: TestEnv) {
  const n = async (table: string) => Number((await env.admin(table).count('* as n'))[0].n)
  return {
    customers: await n('customers'),
    balances: await n('customer_balances'),
    audit: await n('audit_log'),
    events: await n('events'),
    idempotency: await n('idempotency_keys'),
  }
}

t.test('customers', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('create returns the customer with a zero balance row, defaults and an ETag', async (t) => {
    const tenant = await env.tenant({ base_currency: 'usd' })
    const api = env.api(tenant.key)
    const res = await api.post('/v1/customers', { name: 'Acme' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body.id, /^cus_[0-9a-z]{26}$/)
    t.match(res.body, {
      object: 'customer',
      name: 'Acme',
      email: null,
      currency: 'usd',
      credit_limit: null,
      payment_terms_days: 30,
      metadata: {},
      status: 'active',
      version: 1,
      deleted: false,
      deleted_at: null,
      balance: { pending_balance: 0, advance_balance: 0, current_balance: 0, currency: 'usd' },
      possible_duplicates: [],
    })
    t.equal(res.headers.etag, '"1"')
    const balance = await env.admin('customer_balances').where({ customer_id: res.body.id }).first()
    t.match(balance, { pending_balance: 0, advance_balance: 0, currency: 'usd' })

    const full = {
      name: 'Globex',
      email: 'ap@globex.example',
      phone: '+1 555 0100',
      tax_id: 'US-12-3456789',
      billing_address: { line1: '1 Main St', city: 'Springfield', postal_code: '12345', country: 'US' },
      shipping_address: { line1: '2 Dock Rd', country: 'US' },
      currency: 'EUR',
      credit_limit: 500000,
      payment_terms_days: 45,
      external_id: 'erp-42',
      metadata: { segment: 'wholesale', tier: 2, vip: true },
    }
    const globex = await api.post('/v1/customers', full)
    t.equal(globex.statusCode, 201, globex.raw)
    t.match(globex.body, { ...full, currency: 'eur', balance: { currency: 'eur' } })
    t.equal((await env.admin('customer_balances').where({ customer_id: globex.body.id }).first()).currency, 'eur')

    const events = await env.admin('events').where({ type: 'customer.created' }).select('data')
    t.ok(events.some((e: { data: { object: { id: string } } }) => e.data.object.id === globex.body.id))
  })

  await t.test('possible duplicates: same email (any case), phone or tax id among live customers', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const a = await api.post('/v1/customers', { name: 'Jane A', email: 'Jane@Example.com', phone: '+15550100', tax_id: 'TX-1' })
    t.same(a.body.possible_duplicates, [])
    const b = await api.post('/v1/customers', { name: 'Jane B', email: 'jane@example.COM' })
    t.same(b.body.possible_duplicates, [{ id: a.body.id, name: 'Jane A', matched_on: ['email'] }])
    const c = await api.post('/v1/customers', { name: 'Jane C', phone: '+15550100', tax_id: 'TX-1' })
    t.same(c.body.possible_duplicates, [{ id: a.body.id, name: 'Jane A', matched_on: ['phone', 'tax_id'] }])
    const none = await api.post('/v1/customers', { name: 'Jane', email: 'other@example.com' })
    t.same(none.body.possible_duplicates, [])

    // Other tenants' customers are never hinted.
    const other = await env.tenant()
    const foreign = await env.api(other.key).post('/v1/customers', { name: 'X', email: 'jane@example.com' })
    t.same(foreign.body.possible_duplicates, [])

    // Deleted customers are not hinted.
    t.equal((await api.delete(`/v1/customers/${a.body.id}`, { reason: 'merged into B' })).statusCode, 200)
    const d = await api.post('/v1/customers', { name: 'Jane D', email: 'JANE@example.com' })
    t.same(d.body.possible_duplicates, [{ id: b.body.id, name: 'Jane B', matched_on: ['email'] }])
  })

  await t.test('external_id is unique among live customers', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const first = await api.post('/v1/customers', { name: 'One', external_id: 'ext-1' })
    t.equal(first.statusCode, 201)
    const before = await counts(env)
    const dup = await api.post('/v1/customers', { name: 'Two', external_id: 'ext-1' })
    t.equal(dup.statusCode, 409)
    t.equal(dup.body.error.code, 'duplicate_external_id')
    t.equal(dup.body.error.param, 'external_id')
    t.same(await counts(env), before, 'nothing written')

    const other = await api.post('/v1/customers', { name: 'Other', external_id: 'ext-2' })
    const patched = await api.patch(`/v1/customers/${other.body.id}`, { external_id: 'ext-1' })
    t.equal(patched.statusCode, 409)
    t.equal(patched.body.error.code, 'duplicate_external_id')

    // A deleted customer frees its external_id; restoring it while it is taken is refused.
    t.equal((await api.delete(`/v1/customers/${first.body.id}`, { reason: 'duplicate' })).statusCode, 200)
    const reuse = await api.post('/v1/customers', { name: 'Three', external_id: 'ext-1' })
    t.equal(reuse.statusCode, 201)
    const restore = await api.post(`/v1/customers/${first.body.id}/restore`, { reason: 'oops' })
    t.equal(restore.statusCode, 409)
    t.equal(restore.body.error.code, 'duplicate_external_id')
    t.equal((await api.get(`/v1/customers/${first.body.id}`)).body.status, 'deleted')

    // The same external_id in another tenant is fine.
    const elsewhere = await env.tenant()
    t.equal((await env.api(elsewhere.key).post('/v1/customers', { name: 'One', external_id: 'ext-1' })).statusCode, 201)
  })

  await t.test('list: pagination newest first without overlaps', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const created: string[] = []
    for (let i = 0; i < 25; i++) created.push((await api.post('/v1/customers', { name: `Customer ${i}` })).body.id)
    const seen: string[] = []
    let cursor: string | undefined
    const pages: number[] = []
    for (;;) {
      const res = await api.get(`/v1/customers?limit=10${cursor ? `&starting_after=${cursor}` : ''}`)
      t.equal(res.statusCode, 200, res.raw)
      t.equal(res.body.object, 'list')
      pages.push(res.body.data.length)
      seen.push(...res.body.data.map((c: { id: string }) => c.id))
      if (!res.body.has_more) break
      cursor = res.body.data.at(-1).id
    }
    t.same(pages, [10, 10, 5])
    t.equal(new Set(seen).size, 25, 'no overlaps')
    t.same([...seen].sort(), [...created].sort(), 'every customer once')
    t.same(seen, [...seen].sort().reverse(), 'newest (highest id) first')

    t.equal((await api.get('/v1/customers')).body.data.length, 20, 'default limit')
    for (const qs of ['limit=0', 'limit=101', 'limit=abc', 'starting_after=nope', 'include_deleted=maybe', 'status=gone', 'q=', 'extra=1']) {
      const res = await api.get(`/v1/customers?${qs}`)
      t.equal(res.statusCode, 400, qs)
      t.equal(res.body.error.type, 'invalid_request')
    }
  })

  await t.test('list: q, status and include_deleted', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const wild = await api.post('/v1/customers', { name: 'Wild_card 100% Ltd' })
    const tame = await api.post('/v1/customers', { name: 'Wildxcard 1000 Ltd', email: 'billing@tame.example' })
    const ext = await api.post('/v1/customers', { name: 'Zed', external_id: 'ERP-777' })
    const names = async (qs: string) => {
      const res = await api.get(`/v1/customers?${qs}`)
      t.equal(res.statusCode, 200, res.raw)
      return res.body.data.map((c: { name: string }) => c.name).sort()
    }
    t.same(await names('q=wild'), ['Wild_card 100% Ltd', 'Wildxcard 1000 Ltd'], 'case-insensitive')
    t.same(await names('q=d_c'), ['Wild_card 100% Ltd'], '_ is literal')
    t.same(await names(`q=${encodeURIComponent('100%')}`), ['Wild_card 100% Ltd'], '% is literal')
    t.same(await names('q=TAME.example'), ['Wildxcard 1000 Ltd'], 'matches email')
    t.same(await names('q=erp-7'), ['Zed'], 'matches external_id')
    t.same(await names(`q=${encodeURIComponent('\\')}`), [], 'backslash is literal')

    t.equal((await api.patch(`/v1/customers/${tame.body.id}`, { status: 'suspended' })).statusCode, 200)
    t.same(await names('status=suspended'), ['Wildxcard 1000 Ltd'])
    t.same(await names('status=active'), ['Wild_card 100% Ltd', 'Zed'])

    t.equal((await api.delete(`/v1/customers/${wild.body.id}`, { reason: 'closed down' })).statusCode, 200)
    t.same(await names(''), ['Wildxcard 1000 Ltd', 'Zed'], 'deleted hidden by default')
    t.same(await names('include_deleted=false'), ['Wildxcard 1000 Ltd', 'Zed'])
    t.same(await names('include_deleted=true'), ['Wild_card 100% Ltd', 'Wildxcard 1000 Ltd', 'Zed'])
    t.same(await names('status=deleted'), ['Wild_card 100% Ltd'], 'status=deleted lists deleted ones')
    t.same(await names('q=wild'), ['Wildxcard 1000 Ltd'])
    // The external_id match is that customer, created with it.
    t.equal(ext.statusCode, 201, ext.raw)
    t.match(ext.body, { id: /^cus_/, object: 'customer', name: 'Zed', external_id: 'ERP-777', status: 'active' })
    t.same((await api.get('/v1/customers?q=erp-7')).body.data.map((c: { id: string }) => c.id), [ext.body.id])
  })

  await t.test('get: by id, deleted ones too; malformed id 400; unknown id 404', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Gettable' })
    const got = await api.get(`/v1/customers/${c.body.id}`)
    t.equal(got.statusCode, 200)
    t.equal(got.headers.etag, '"1"')
    const { possible_duplicates: _, ...createdView } = c.body
    t.same(got.body, createdView)
    t.notOk('possible_duplicates' in got.body)

    await api.delete(`/v1/customers/${c.body.id}`, { reason: 'gone' })
    const deleted = await api.get(`/v1/customers/${c.body.id}`)
    t.equal(deleted.statusCode, 200)
    t.match(deleted.body, { status: 'deleted', deleted: true, delete_reason: 'gone', version: 2 })
    t.ok(deleted.body.deleted_at)
    t.equal(deleted.headers.etag, '"2"')

    for (const bad of ['cus_123', 'inv_01m7ya658y35njvsgr8xqrzjm4', 'CUS_01M7YA658Y35NJVSGR8XQRZJM4', "cus_'or'1'='1"]) {
      const res = await api.get(`/v1/customers/${encodeURIComponent(bad)}`)
      t.equal(res.statusCode, 400, bad)
    }
    const missing = await api.get('/v1/customers/cus_00000000000000000000000000')
    t.equal(missing.statusCode, 404)
    t.equal(missing.body.error.code, 'resource_missing')
  })

  await t.test('PATCH: If-Match versions, 412 on stale, nothing written', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Patchy', credit_limit: 1000, metadata: { a: '1', b: '2' } })
    const url = `/v1/customers/${c.body.id}`

    const v2 = await api.patch(url, { name: 'Patchy 2' }, { 'if-match': '"1"' })
    t.equal(v2.statusCode, 200, v2.raw)
    t.match(v2.body, { name: 'Patchy 2', version: 2 })
    t.equal(v2.headers.etag, '"2"')
    t.not(v2.body.updated, c.body.updated)
    const v3 = await api.patch(url, { credit_limit: null }, { 'if-match': '2' })
    t.match(v3.body, { credit_limit: null, version: 3 })
    const v4 = await api.patch(url, { metadata: { c: 'only' } }, { 'if-match': 'W/"3"' })
    t.same(v4.body.metadata, { c: 'only' }, 'metadata is replaced')
    t.equal(v4.body.version, 4)
    const star = await api.patch(url, { payment_terms_days: 10 }, { 'if-match': '*' })
    t.equal(star.body.version, 5)

    const before = await counts(env)
    for (const stale of ['"4"', '4', 'W/"1"', '"abc"', '']) {
      const res = await api.patch(url, { name: 'Lost update' }, { 'if-match': stale })
      t.equal(res.statusCode, 412, `If-Match ${stale}`)
      t.equal(res.body.error.code, 'version_conflict')
    }
    t.same(await counts(env), before, 'no audit, no event, nothing written')
    const row = await env.admin('customers').where({ id: c.body.id }).first()
    t.equal(row.name, 'Patchy 2')
    t.equal(row.version, 5)

    const noIfMatch = await api.patch(url, { phone: '+4930123456' })
    t.equal(noIfMatch.statusCode, 200)
    t.equal(noIfMatch.body.version, 6)

    const auditBefore = (await counts(env)).audit
    const noop = await api.patch(url, { phone: '+4930123456', metadata: { c: 'only' } }, { 'if-match': '"6"' })
    t.equal(noop.statusCode, 200)
    t.equal(noop.body.version, 6, 'a PATCH that changes nothing keeps the version')
    t.equal((await counts(env)).audit, auditBefore, 'and writes no audit row')

    for (const body of [{}, { currency: 'eur' }, { status: 'deleted' }, { credit_limit: 10.5 }, { credit_limit: -1 }, { credit_limit: '100' }, { name: null }, { name: '' }, { id: 'cus_x' }, { version: 1 }]) {
      const res = await api.patch(url, body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
    }
    t.equal((await env.admin('customers').where({ id: c.body.id }).first()).version, 6)
  })

  await t.test('PATCH status emits suspended/reactivated; deleted customers cannot be patched', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Status' })
    const url = `/v1/customers/${c.body.id}`
    t.equal((await api.patch(url, { status: 'suspended' })).body.status, 'suspended')
    t.equal((await api.patch(url, { status: 'active' })).body.status, 'active')
    t.equal((await api.patch(url, { status: 'inactive' })).body.status, 'inactive')
    // Events of one request share its request id (and millisecond), so compare them per request.
    const events: { type: string; request_id: string }[] = await env.admin('events').where({ tenant_id: tenant.uuid }).orderBy('created_at').select('type', 'request_id')
    const byRequest = [...new Set(events.map((e) => e.request_id))].map((r) => events.filter((e) => e.request_id === r).map((e) => e.type).sort())
    t.same(byRequest, [
      ['customer.created'],
      ['customer.suspended', 'customer.updated'],
      ['customer.reactivated', 'customer.updated'],
      ['customer.updated'],
    ])

    await api.delete(url, { reason: 'closed' })
    const res = await api.patch(url, { name: 'Zombie' })
    t.equal(res.statusCode, 409)
    t.equal(res.body.error.code, 'customer_deleted')
  })

  await t.test('DELETE: reason required, balance must be zero, soft', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Debtor' })
    const url = `/v1/customers/${c.body.id}`

    for (const body of [undefined, {}, { reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(501) }, { reason: 5 }, { reason: 'ok', extra: 1 }]) {
      const res = await api.delete(url, body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
    }

    await env.admin('customer_balances').where({ customer_id: c.body.id }).update({ pending_balance: 500 })
    const owes = await api.delete(url, { reason: 'cleanup' })
    t.equal(owes.statusCode, 409)
    t.equal(owes.body.error.code, 'customer_has_balance')
    await env.admin('customer_balances').where({ customer_id: c.body.id }).update({ pending_balance: 0, advance_balance: 100 })
    t.equal((await api.delete(url, { reason: 'cleanup' })).body.error.code, 'customer_has_balance')
    await env.admin('customer_balances').where({ customer_id: c.body.id }).update({ pending_balance: -100, advance_balance: 0 })
    t.equal((await api.delete(url, { reason: 'cleanup' })).body.error.code, 'customer_has_balance')
    t.equal((await env.admin('customers').where({ id: c.body.id }).first()).status, 'active', 'still active')

    await env.admin('customer_balances').where({ customer_id: c.body.id }).update({ pending_balance: 0, advance_balance: 0 })
    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).delete(url, { reason: 'x' })).statusCode, 403)

    const deleted = await api.delete(url, { reason: 'customer asked to close the account' })
    t.equal(deleted.statusCode, 200, deleted.raw)
    t.match(deleted.body, { status: 'deleted', deleted: true, delete_reason: 'customer asked to close the account', version: 2 })
    t.equal(deleted.headers.etag, '"2"')
    const row = await env.admin('customers').where({ id: c.body.id }).first()
    t.ok(row, 'the row is kept')
    t.equal(row.status_before_delete, 'active')
    t.match(row.deleted_by, /^key_/)
    t.ok(row.deleted_at)

    const again = await api.delete(url, { reason: 'again' })
    t.equal(again.statusCode, 409)
    t.equal(again.body.error.code, 'customer_deleted')
  })

  await t.test('restore: back to the previous status; permission; not deleted → 409', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const c = await api.post('/v1/customers', { name: 'Phoenix' })
    const url = `/v1/customers/${c.body.id}`
    const notDeleted = await api.post(`${url}/restore`, { reason: 'x' })
    t.equal(notDeleted.statusCode, 409)
    t.equal(notDeleted.body.error.code, 'customer_not_deleted')

    await api.patch(url, { status: 'suspended' })
    const compliance = await env.key(tenant.key, 'compliance')
    const refused = await env.api(compliance.secret).delete(url, { reason: 'fraud review' })
    t.equal(refused.statusCode, 403, 'only admin deletes a customer')
    t.match(refused.body.error, { code: 'permission_denied', details: { permission: 'customers.delete' } })
    t.equal((await api.delete(url, { reason: 'fraud review' })).statusCode, 200)

    const accountant = await env.key(tenant.key, 'accountant')
    t.equal((await env.api(accountant.secret).post(`${url}/restore`, {})).statusCode, 403)
    t.equal((await api.post(`${url}/restore`, { reason: 'x', extra: true })).statusCode, 400)

    const restored = await env.api(compliance.secret).post(`${url}/restore`)
    t.equal(restored.statusCode, 200, restored.raw)
    t.match(restored.body, { status: 'suspended', deleted: false, deleted_at: null, delete_reason: null, version: 4 })
    t.equal(restored.headers.etag, '"4"')
    const row = await env.admin('customers').where({ id: c.body.id }).first()
    t.match(row, { status_before_delete: null, deleted_by: null, deleted_at: null })
    t.equal((await api.get('/v1/customers')).body.data.length, 1, 'listed again')

    await api.delete(url, { reason: 'again' })
    const withReason = await api.post(`${url}/restore`, { reason: 'customer came back' })
    t.equal(withReason.body.status, 'suspended')
  })

  await t.test('personal data and balances are absent for roles that may not view them', async (t) => {
    const tenant = await env.tenant()
    const pii = {
      name: 'Jane Doe',
      email: 'jane.doe@example.com',
      phone: '+1 555 010 0189',
      tax_id: 'DE123456789',
      billing_address: { line1: '1 Main St', country: 'DE' },
      shipping_address: { line1: '2 Side St', country: 'DE' },
    }
    const PII = ['email', 'phone', 'tax_id', 'billing_address', 'shipping_address']
    const BALANCES = ['balance', 'credit_limit', 'temporary_credit_limit', 'temporary_credit_limit_expires_on']
    const c = await env.api(tenant.key).post('/v1/customers', { ...pii, credit_limit: 5000 })
    const roles = ['cashier', 'auditor', 'accountant', 'credit_manager', 'compliance', 'manager', 'sales_rep']
    const keys = Object.fromEntries(await Promise.all(roles.map(async (r) => [r, await env.key(tenant.key, r)])))
    await env.api(tenant.key).patch(`/v1/customers/${c.body.id}`, { assigned_to: keys.sales_rep.id })
    const seesPii = ['compliance']
    const seesBalances = ['auditor', 'accountant', 'credit_manager', 'compliance', 'manager']
    for (const role of roles) {
      const api = env.api(keys[role].secret)
      const got = await api.get(`/v1/customers/${c.body.id}`)
      t.equal(got.statusCode, 200, role)
      const list = await api.get('/v1/customers')
      for (const view of [got.body, list.body.data[0]]) {
        for (const f of PII) t.equal(f in view, seesPii.includes(role), `${role}: ${f} ${seesPii.includes(role) ? 'shown' : 'absent'}`)
        for (const f of BALANCES) t.equal(f in view, seesBalances.includes(role), `${role}: ${f} ${seesBalances.includes(role) ? 'shown' : 'absent'}`)
        t.equal(view.name, 'Jane Doe')
      }
      if (!seesPii.includes(role)) {
        t.notOk(JSON.stringify(list.body).includes('jane.doe'), `${role} sees no email anywhere`)
        t.same((await api.get('/v1/customers?q=doe%40')).body.data, [], `${role} cannot search by email`)
      } else t.match(got.body, pii, `${role} sees PII`)
      t.equal((await api.get('/v1/customers?q=jane')).body.data.length, 1, `${role} can search by name`)
    }
    // A cashier captures contact details at the till without reading them back, nor balances.
    const created = await env.api(keys.cashier.secret).post('/v1/customers', { name: 'Walk-in', email: 'walkin@shop.example', phone: '12' })
    t.equal(created.statusCode, 201)
    t.notOk('email' in created.body || 'phone' in created.body || 'balance' in created.body)
    t.match(await env.admin('customers').where({ id: created.body.id }).first(), { email: 'walkin@shop.example', phone: '12' })
  })

  await t.test('writing a field the role may not edit is 403 field_not_permitted, nothing written', async (t) => {
    const tenant = await env.tenant()
    const c = await env.api(tenant.key).post('/v1/customers', { name: 'Limits' })
    const url = `/v1/customers/${c.body.id}`
    const before = await env.admin('customers').where({ id: c.body.id }).first()
    for (const role of ['manager', 'accountant', 'cashier', 'auditor']) {
      const k = await env.key(tenant.key, role)
      const res = await env.api(k.secret).patch(url, { credit_limit: 999999 })
      t.equal(res.statusCode, 403, `${role} cannot raise a credit limit`)
      if (role === 'manager' || role === 'accountant') t.match(res.body.error, { code: 'field_not_permitted', param: 'credit_limit' })
    }
    const cashier = await env.key(tenant.key, 'cashier')
    const create = await env.api(cashier.secret).post('/v1/customers', { name: 'x', credit_limit: 100 })
    t.match(create.body.error, { code: 'field_not_permitted', param: 'credit_limit' })
    t.same(await env.admin('customers').where({ id: c.body.id }).first(), before, 'nothing written')
    t.equal((await env.admin('customers').where({ tenant_id: tenant.uuid })).length, 1, 'no customer created')
    for (const role of ['admin', 'credit_manager']) {
      const k = role === 'admin' ? { secret: tenant.key } : await env.key(tenant.key, role)
      const cur = await env.api(k.secret).get(url)
      const res = await env.api(k.secret).patch(url, { credit_limit: cur.body.credit_limit === 1000 ? 2000 : 1000 })
      t.equal(res.statusCode, 200, `${role} sets a credit limit`)
    }
  })

  await t.test('a sales rep sees only customers assigned to its key or its user', async (t) => {
    const tenant = await env.tenant()
    const admin = env.api(tenant.key)
    const rep1 = await env.key(tenant.key, 'sales_rep')
    const rep2 = await env.key(tenant.key, 'sales_rep')
    const mine = await admin.post('/v1/customers', { name: 'Mine', email: 'mine@example.com', assigned_to: rep1.id })
    const theirs = await admin.post('/v1/customers', { name: 'Theirs', email: 'theirs@example.com', assigned_to: rep2.id })
    await admin.post('/v1/customers', { name: 'Nobody' })
    const r1 = env.api(rep1.secret)

    const list = await r1.get('/v1/customers?include_deleted=true')
    t.same(list.body.data.map((c: { name: string }) => c.name), ['Mine'])
    t.notOk('email' in list.body.data[0], 'no personal data for a rep, even of its own customers')
    t.equal((await r1.get(`/v1/customers/${mine.body.id}`)).statusCode, 200)
    const other = await r1.get(`/v1/customers/${theirs.body.id}`)
    t.equal(other.statusCode, 404)
    t.equal(other.body.error.code, 'resource_missing')
    t.equal((await r1.patch(`/v1/customers/${theirs.body.id}`, { name: 'x' })).statusCode, 404)
    t.equal((await r1.patch(`/v1/customers/${mine.body.id}`, { name: 'Mine too' })).statusCode, 200, 'reps edit their own')
    const away = await r1.patch(`/v1/customers/${mine.body.id}`, { assigned_to: rep2.id })
    t.match(away.body.error, { code: 'field_not_permitted', param: 'assigned_to' }, 'cannot hand a customer to someone else')

    const own = await r1.post('/v1/customers', { name: 'New lead', email: 'theirs@example.com' })
    t.equal(own.statusCode, 201, own.raw)
    t.equal(own.body.assigned_to, rep1.id, 'assigned to the creating rep by default')
    t.same(own.body.possible_duplicates, [], 'no hints about customers outside its scope')
    t.same((await r1.get('/v1/customers')).body.data.map((c: { name: string }) => c.name), ['New lead', 'Mine too'])
    t.same((await env.api(rep2.secret).get('/v1/customers')).body.data.map((c: { name: string }) => c.name), ['Theirs'])

    // A key with a user label: customers assigned to the user stay with it across key rotation.
    const k1 = await admin.post('/v1/api-keys', { name: 'Ann, laptop', role: 'sales_rep', user: 'ann' })
    t.equal(k1.statusCode, 201, k1.raw)
    t.equal(k1.body.user, 'ann')
    const anns = await admin.post('/v1/customers', { name: "Ann's", assigned_to: 'ann' })
    t.equal(anns.statusCode, 201, anns.raw)
    const created = await env.api(k1.body.secret).post('/v1/customers', { name: 'Ann lead' })
    const logged = await admin.get(`/v1/audit-log?entity=${created.body.id}`)
    t.match(logged.body.data[0], { actor: k1.body.id, actor_user: 'ann', action: 'customer.created' }, 'the audit log names the person')
    t.equal(created.body.assigned_to, 'ann', created.raw)
    t.equal((await admin.delete(`/v1/api-keys/${k1.body.id}`)).statusCode, 200)
    const k2 = await admin.post('/v1/api-keys', { name: 'Ann, phone', role: 'sales_rep', user: 'ann' })
    t.same((await env.api(k2.body.secret).get('/v1/customers')).body.data.map((c: { name: string }) => c.name), ['Ann lead', "Ann's"])
    t.equal((await admin.post('/v1/customers', { name: 'x', assigned_to: 'nobody' })).statusCode, 404, 'an unknown user')
  })

  await t.test("another tenant's ids answer 404 exactly like missing ids", async (t) => {
    const a = await env.tenant()
    const b = await env.tenant()
    const c = await env.api(a.key).post('/v1/customers', { name: 'Private', external_id: 'a-1' })
    const rowBefore = await env.admin('customers').where({ id: c.body.id }).first()
    const missingId = 'cus_00000000000000000000000000'
    const apiB = env.api(b.key)
    const calls = (id: string) => [
      () => apiB.get(`/v1/customers/${id}`),
      () => apiB.patch(`/v1/customers/${id}`, { name: 'hijack' }),
      () => apiB.patch(`/v1/customers/${id}`, { name: 'hijack' }, { 'if-match': '"1"' }),
      () => apiB.delete(`/v1/customers/${id}`, { reason: 'hijack' }),
      () => apiB.post(`/v1/customers/${id}/restore`, { reason: 'hijack' }),
    ]
    const foreignCalls = calls(c.body.id)
    const missingCalls = calls(missingId)
    for (let i = 0; i < foreignCalls.length; i++) {
      const foreign = await foreignCalls[i]()
      const missing = await missingCalls[i]()
      t.equal(foreign.statusCode, 404)
      t.equal(missing.statusCode, 404)
      const shape = (r: typeof foreign, id: string) => ({ ...r.body.error, request_id: 'x', message: r.body.error.message.replace(id, 'ID') })
      t.same(shape(foreign, c.body.id), shape(missing, missingId))
    }
    t.same(await env.admin('customers').where({ id: c.body.id }).first(), rowBefore, 'untouched')
    t.same((await apiB.get('/v1/customers?include_deleted=true&q=Private')).body.data, [])
  })

  await t.test('bad input answers 400 and writes nothing', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const target = await api.post('/v1/customers', { name: 'Target' })
    const bodies: unknown[] = [
      {},
      { name: 5 },
      { name: '' },
      { name: '   ' },
      { name: 'x'.repeat(201) },
      { name: 'x', unknown: 1 },
      { name: 'x', credit_limit: 10.5 },
      { name: 'x', credit_limit: -1 },
      { name: 'x', credit_limit: '100' },
      { name: 'x', credit_limit: 1e300 },
      { name: 'x', email: 'not-an-email' },
      { name: 'x', email: 'a@b.c'.padStart(300, 'a') },
      { name: 'x', phone: 'p'.repeat(41) },
      { name: 'x', payment_terms_days: 5000 },
      { name: 'x', payment_terms_days: 1.5 },
      { name: 'x', currency: 'us' },
      { name: 'x', currency: 'zzz' },
      { name: 'x', assigned_to: 'not a key, nor a user' },
      { name: 'x', external_id: '' },
      { name: 'x', billing_address: { line1: 'a', evil: 1 } },
      { name: 'x', billing_address: 'Main St' },
      { name: 'x', metadata: [] },
      { name: 'x', metadata: { nested: { a: 1 } } },
      { name: 'x', metadata: { k: 'v'.repeat(501) } },
      { name: 'x', metadata: { ['k'.repeat(41)]: 'v' } },
      { name: 'x', metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, i])) },
      { name: 'x', status: 'active' },
      [{ name: 'x' }],
      'name=x',
    ]
    const before = await counts(env)
    for (const body of bodies) {
      const res = await api.post('/v1/customers', body, typeof body === 'string' ? { 'content-type': 'application/json' } : {})
      t.equal(res.statusCode, 400, `POST ${JSON.stringify(body).slice(0, 80)}`)
      t.equal(res.body.error.type, 'invalid_request')
      t.ok(res.body.error.request_id)
      if (JSON.stringify(body) === JSON.stringify({ name: 'x', status: 'active' })) continue // a valid PATCH
      const patch = await api.patch(`/v1/customers/${target.body.id}`, body, typeof body === 'string' ? { 'content-type': 'application/json' } : {})
      t.equal(patch.statusCode, 400, `PATCH ${JSON.stringify(body).slice(0, 80)}`)
    }
    t.same(await counts(env), before, 'no customer, balance, audit or event row')
    t.same((await env.admin('customers').where({ id: target.body.id }).first()).version, 1)

    const oversize = await api.post('/v1/customers', { name: 'x', metadata: { k: 'x'.repeat(2_000_000) } })
    t.equal(oversize.statusCode, 413)
    t.equal(oversize.body.error.code, 'body_too_large')
    const noAuth = await env.api(null).post('/v1/customers', { name: 'x' })
    t.equal(noAuth.statusCode, 401)
    const auditor = await env.key(tenant.key, 'auditor')
    t.equal((await env.api(auditor.secret).post('/v1/customers', { name: 'x' })).statusCode, 403)
    t.same(await counts(env), { ...before, audit: before.audit + 1 }, 'only the auditor key creation was written')
  })
})

// Every row that names a customer has a foreign key to customers (tenant_id, id), and Postgres
// checks it with the query below (ri_triggers.c), planned once per connection and kept while the
// table's statistics stand still: planned while a tenant had few customers and none were analyzed,
// that plan once read the tenant's customers through the name index, every one of them per check,
// so a 100,000-customer import got slower with each row (migration 20261227000010).
t.test('a foreign-key check reads the one customer it names, even when planned on a nearly empty table', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const customersScan = (plan: any): any =>
    plan['Relation Name'] === 'customers' ? plan : (plan.Plans ?? []).map(customersScan).find(Boolean)
  const plan = await env.admin.transaction(async (trx) => {
    await trx.raw('set local plan_cache_mode = force_generic_plan')
    await trx.raw(
      `prepare fk_check(uuid, text) as select 1 from only public.customers x
        where tenant_id operator(pg_catalog.=) $1 and id operator(pg_catalog.=) $2 for key share of x`,
    )
    // EXECUTE takes no bound parameters: the tenant's uuid (ours) is written in.
    await trx.raw(`explain execute fk_check('${tenant.uuid}', 'cus_none')`) // the plan is made now, and kept
    await trx.raw(
      `insert into customers (tenant_id, id, name, currency)
       select ?, 'cus_fk' || lpad(g::text, 5, '0'), 'Customer ' || g, 'usd' from generate_series(1, 2000) g`,
      [tenant.uuid],
    )
    const { rows } = await trx.raw(`explain (analyze, format json) execute fk_check('${tenant.uuid}', 'cus_fk01000')`)
    await trx.raw('deallocate fk_check')
    return customersScan(rows[0]['QUERY PLAN'][0].Plan)
  })
  t.equal(plan['Index Name'], 'customers_pkey', `the primary key serves the check (${plan['Node Type']} ${plan['Index Name'] ?? ''})`)
  t.equal(plan['Actual Rows'], 1)
  t.equal(plan['Rows Removed by Filter'] ?? 0, 0, 'no other customer of the tenant read')
})

import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { customer } from './helpers/ledger'

t.test('credit-limit requests and history', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const admin = env.api(tenant.key)
  const keyFor = async (role: string, user?: string) => {
    const res = await admin.post('/v1/api-keys', { name: `${role} ${user ?? ''}`, role, ...(user ? { user } : {}) })
    if (res.statusCode !== 201) throw new Error(res.raw)
    return { id: res.body.id as string, api: env.api(res.body.secret) }
  }
  const credit = await keyFor('credit_manager', 'carla')
  const credit2 = await keyFor('credit_manager', 'colin')
  const accountant = await keyFor('accountant')
  const cashier = await keyFor('cashier')
  const limitOf = async (cus: string) => {
    const c = (await admin.get(`/v1/customers/${cus}`)).body
    return { credit_limit: c.credit_limit, temporary_credit_limit: c.temporary_credit_limit, temporary_credit_limit_expires_on: c.temporary_credit_limit_expires_on }
  }

  await t.test('a decrease applies at once', async (t) => {
    const cus = await customer(admin, { credit_limit: 50000 })
    const res = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 30000, reason: 'late payer' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { object: 'credit_limit_request', id: /^clr_/, status: 'approved', customer: cus, kind: 'credit_limit', from: 50000, to: 30000, expires_on: null, requested_by: accountant.id, decided_by: accountant.id })
    t.equal((await limitOf(cus)).credit_limit, 30000)
    t.equal((await env.admin('audit_log').where({ action: 'customer.credit_limit_changed', entity_id: cus })).length, 1)
    t.equal((await env.admin('events').where({ type: 'customer.credit_limit_changed', customer_id: cus })).length, 1)
  })

  await t.test('an increase waits for a different credit_limits.approve holder', async (t) => {
    const cus = await customer(admin, { credit_limit: 10000 })
    const res = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 25000, reason: 'good customer' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { status: 'pending', from: 10000, to: 25000, decided_by: null })
    t.equal((await limitOf(cus)).credit_limit, 10000)
    t.ok((await credit.api.get('/v1/credit-limit-requests?status=pending')).body.data.some((r: any) => r.id === res.body.id))
    const denied = await accountant.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, { reason: 'me' })
    t.equal(denied.statusCode, 403)
    t.equal(denied.body.error.code, 'permission_denied')
    const ok = await credit.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, { reason: 'pays on time' })
    t.equal(ok.statusCode, 200, ok.raw)
    t.match(ok.body, { status: 'approved', decided_by: credit.id, decided_user: 'carla', decision_reason: 'pays on time' })
    t.equal((await limitOf(cus)).credit_limit, 25000)
    const again = await credit2.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, {})
    t.equal(again.statusCode, 409)
    t.equal(again.body.error.code, 'approval_not_pending')
  })

  await t.test('the requester cannot approve its own increase; reject needs a reason', async (t) => {
    const cus = await customer(admin, { credit_limit: 10000 })
    const res = await credit.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 20000, reason: 'mine' })
    t.equal(res.body.status, 'pending', 'credit_limit_increase defaults to true: even approvers wait')
    const self = await credit.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, {})
    t.equal(self.statusCode, 403)
    t.equal(self.body.error.code, 'self_approval')
    const sameUser = await keyFor('credit_manager', 'carla')
    t.equal((await sameUser.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, {})).body.error.code, 'self_approval')
    t.equal((await credit2.api.post(`/v1/credit-limit-requests/${res.body.id}/reject`, {})).statusCode, 400)
    const rejected = await credit2.api.post(`/v1/credit-limit-requests/${res.body.id}/reject`, { reason: 'not yet' })
    t.equal(rejected.statusCode, 200, rejected.raw)
    t.match(rejected.body, { status: 'rejected', decision_reason: 'not yet' })
    t.equal((await limitOf(cus)).credit_limit, 10000)
  })

  await t.test('with approvals.credit_limit_increase false, an approver’s own increase applies at once', async (t) => {
    t.equal((await admin.patch('/v1/settings', { approvals: { credit_limit_increase: false } })).statusCode, 200)
    t.teardown(async () => void (await admin.patch('/v1/settings', { approvals: { credit_limit_increase: true } })))
    const cus = await customer(admin, { credit_limit: 10000 })
    const mine = await credit.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 15000, reason: 'switch off' })
    t.match(mine.body, { status: 'approved', decided_by: credit.id })
    t.equal((await limitOf(cus)).credit_limit, 15000)
    const other = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 20000, reason: 'not an approver' })
    t.equal(other.body.status, 'pending')
  })

  await t.test('a temporary limit', async (t) => {
    const cus = await customer(admin, { credit_limit: 10000 })
    const res = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 30000, reason: 'season', expires_on: '2099-01-31' })
    t.match(res.body, { status: 'pending', kind: 'temporary_credit_limit', from: null, to: 30000, expires_on: '2099-01-31' })
    t.equal((await credit.api.post(`/v1/credit-limit-requests/${res.body.id}/approve`, {})).statusCode, 200)
    t.same(await limitOf(cus), { credit_limit: 10000, temporary_credit_limit: 30000, temporary_credit_limit_expires_on: '2099-01-31' })
    const past = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 5000, reason: 'past', expires_on: '2000-01-01' })
    t.equal(past.statusCode, 400)
    t.equal(past.body.error.code, 'validation_failed')
  })

  await t.test('history lists the limit given at creation, request and PATCH changes', async (t) => {
    const cus = await customer(admin, { credit_limit: 10000 })
    await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 8000, reason: 'tighten' })
    // By the admin key: a credit_manager's PATCH currently fails in the response serializer
    // (hidden PII fields vs the customer schema), the permissions refactor's to fix.
    const patch = await admin.patch(`/v1/customers/${cus}`, { credit_limit: 12000 })
    t.equal(patch.statusCode, 200, patch.raw)
    t.equal((await admin.patch(`/v1/customers/${cus}`, { name: 'Renamed' })).statusCode, 200)
    const res = await credit.api.get(`/v1/customers/${cus}/credit-limit-history`)
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body.data, [
      { object: 'credit_limit_change', kind: 'credit_limit', from: 8000, to: 12000, source: 'patch', requested_by: /^key_/, approved_by: null, request: null },
      { kind: 'credit_limit', from: 10000, to: 8000, source: 'request', requested_by: accountant.id, approved_by: accountant.id, reason: 'tighten', request: /^clr_/ },
      { kind: 'credit_limit', from: null, to: 10000, source: 'create', requested_by: /^key_/, approved_by: null, request: null },
    ])
    t.equal(res.body.data.length, 3, 'a PATCH that leaves the limits alone adds nothing')
    const noLimit = await customer(admin, {})
    t.same((await credit.api.get(`/v1/customers/${noLimit}/credit-limit-history`)).body.data, [], 'no limit at creation, no entry')
    t.equal((await cashier.api.get(`/v1/customers/${cus}/credit-limit-history`)).statusCode, 403)
  })

  await t.test('bad input: 400, nothing written', async (t) => {
    const cus = await customer(admin, { credit_limit: 10000 })
    for (const body of [{ credit_limit: 100 }, { credit_limit: -1, reason: 'x' }, { credit_limit: '100', reason: 'x' }, { credit_limit: 1.5, reason: 'x' }, { credit_limit: 100, reason: 'x', extra: 1 }]) {
      const res = await accountant.api.post(`/v1/customers/${cus}/credit-limit-requests`, body)
      t.equal(res.statusCode, 400, JSON.stringify(body))
    }
    t.equal((await env.admin('credit_limit_requests').where({ customer_id: cus })).length, 0)
    t.equal((await cashier.api.post(`/v1/customers/${cus}/credit-limit-requests`, { credit_limit: 1, reason: 'x' })).statusCode, 403)
  })

  await t.test('a sales rep asks for its own customers only: another customer is 404', async (t) => {
    const rep = await keyFor('sales_rep', 'rita')
    const mine = await customer(admin, { credit_limit: 10000, assigned_to: 'rita' })
    const other = await customer(admin, { credit_limit: 10000 })
    const hidden = await rep.api.post(`/v1/customers/${other}/credit-limit-requests`, { credit_limit: 20000, reason: 'not mine' })
    t.equal(hidden.statusCode, 404)
    t.equal(hidden.body.error.code, 'resource_missing')
    t.equal((await env.admin('credit_limit_requests').where({ customer_id: other })).length, 0)

    // A custom role limited to its own customers that may read limits sees only their requests and history.
    await accountant.api.post(`/v1/customers/${mine}/credit-limit-requests`, { credit_limit: 20000, reason: 'for rita' })
    await accountant.api.post(`/v1/customers/${other}/credit-limit-requests`, { credit_limit: 20000, reason: 'someone else' })
    const role = await admin.post('/v1/roles', { name: 'rep_reader', permissions: ['customers.basic.view', 'customers.balance.view'], own_customers_only: true })
    t.equal(role.statusCode, 201, role.raw)
    const reader = await admin.post('/v1/api-keys', { name: 'reader', role: role.body.id, user: 'rita' })
    t.equal(reader.statusCode, 201, reader.raw)
    const readerApi = env.api(reader.body.secret)
    const list = (await readerApi.get('/v1/credit-limit-requests')).body.data as { customer: string }[]
    t.equal(list.length, 1)
    t.ok(list.every((r) => r.customer === mine), 'only its customers’ requests')
    t.equal((await readerApi.get(`/v1/customers/${other}/credit-limit-history`)).statusCode, 404)
    t.equal((await readerApi.get(`/v1/customers/${mine}/credit-limit-history`)).statusCode, 200)
  })

  // Any audit write by a key limited to its own customers can collide in the audit chain today: the
  // chain trigger reads the lane's tail through the owner_scope policy of audit_log, which hides
  // other customers' rows (migration 20261201000010, being reworked with the permissions).
  await t.test('a sales rep’s request for its own customer', async (t) => {
    const rep = await keyFor('sales_rep', 'rosa')
    const mine = await customer(admin, { credit_limit: 10000, assigned_to: 'rosa' })
    const ok = await rep.api.post(`/v1/customers/${mine}/credit-limit-requests`, { credit_limit: 20000, reason: 'big order' })
    t.equal(ok.statusCode, 201, ok.raw)
    t.equal(ok.body.status, 'pending')
    t.notOk('from' in ok.body, 'a key that may not see limits does not get `from`')
  })
})

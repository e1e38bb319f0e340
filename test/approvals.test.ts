import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, customer, intact, invoice, payment, txnOf } from './helpers/ledger'

t.test('approvals (four eyes)', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const admin = env.api(tenant.key)
  const keyFor = async (role: string, user?: string) => {
    const res = await admin.post('/v1/api-keys', { name: `${role} ${user ?? ''}`, role, ...(user ? { user } : {}) })
    if (res.statusCode !== 201) throw new Error(res.raw)
    return { id: res.body.id as string, api: env.api(res.body.secret) }
  }
  const accountant = await keyFor('accountant')
  const manager = await keyFor('manager', 'maria')
  const manager2 = await keyFor('manager', 'mike')
  const cashier = await keyFor('cashier')
  t.equal((await admin.patch('/v1/settings', { approvals: { refund_over: 5000, write_off_over: 1000, reversal_over: 2000 } })).statusCode, 200)

  const refundsOf = async (cus: string) => (await admin.get(`/v1/refunds?customer=${cus}`)).body.data as { id: string; amount: number }[]

  await t.test('under the threshold posts at once; over it answers 202 and posts nothing', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 20000)
    const small = await accountant.api.post('/v1/refunds', { customer: cus, amount: 5000, method: 'cash', reason: 'at the threshold' })
    t.equal(small.statusCode, 201, small.raw)
    const headers = { 'idempotency-key': `held-${cus}` }
    const body = { customer: cus, amount: 5001, method: 'cash', reason: 'Large refund' }
    const held = await accountant.api.post('/v1/refunds', body, headers)
    t.equal(held.statusCode, 202, held.raw)
    t.match(held.body, {
      object: 'approval_request',
      id: /^apr_[0-9a-z]{26}$/,
      status: 'pending',
      action: 'refund.create',
      customer: cus,
      amount: 5001,
      base_amount: 5001,
      currency: 'usd',
      payload: { body },
      requested_by: accountant.id,
      result: null,
    })
    t.ok(Date.parse(held.body.expires_at) - Date.now() > 6.9 * 86400_000, 'expires in 7 days')
    t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 15000, current_balance: -15000 })
    t.equal((await refundsOf(cus)).length, 1)
    const replay = await accountant.api.post('/v1/refunds', body, headers)
    t.equal(replay.statusCode, 202)
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.same(replay.body, held.body)
    t.equal((await env.admin('approval_requests').where({ customer_id: cus })).length, 1, 'the replay held nothing new')
    t.equal((await env.admin('audit_log').where({ action: 'approval_request.created', entity_id: held.body.id })).length, 1)
    t.equal((await env.admin('events').where({ type: 'approval_request.created' }).whereRaw(`data->'object'->>'id' = ?`, [held.body.id])).length, 1)

    await t.test('only approvals.approve holders see all and decide; a requester sees its own', async (t) => {
      const own = await accountant.api.get('/v1/approval-requests')
      t.equal(own.statusCode, 200, own.raw)
      t.ok(own.body.data.length > 0 && own.body.data.every((r: any) => r.requested_by === accountant.id), 'the requester lists the requests it made')
      t.equal((await accountant.api.get(`/v1/approval-requests/${held.body.id}`)).body.status, 'pending')
      t.same((await cashier.api.get('/v1/approval-requests')).body.data, [], 'a key that requested nothing sees nothing')
      t.equal((await cashier.api.get(`/v1/approval-requests/${held.body.id}`)).statusCode, 404, "another key's request is not found")
      for (const api of [accountant.api, cashier.api]) {
        const res = await api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
        t.equal(res.statusCode, 403)
        t.equal(res.body.error.code, 'permission_denied')
      }
      t.equal((await manager.api.get(`/v1/approval-requests/${held.body.id}`)).body.status, 'pending')
      t.ok((await manager.api.get('/v1/approval-requests?status=pending')).body.data.some((r: any) => r.id === held.body.id))
    })

    await t.test('another key approves: the refund posts once, as the approver', async (t) => {
      const res = await manager.api.post(`/v1/approval-requests/${held.body.id}/approve`, { reason: 'checked the receipt' })
      t.equal(res.statusCode, 200, res.raw)
      t.match(res.body, { id: held.body.id, status: 'approved', decided_by: manager.id, decided_user: 'maria', reason: 'checked the receipt', result: { object: 'refund', customer: cus, amount: 5001 } })
      t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 9999, current_balance: -9999 })
      t.equal((await refundsOf(cus)).length, 2)
      const refund = await env.admin('audit_log').where({ action: 'refund.created', entity_id: res.body.result.id }).first()
      t.equal(refund.actor, manager.id, 'the action ran as the approver')
      t.match(await env.admin('audit_log').where({ action: 'approval_request.approved', entity_id: held.body.id }).first(), { actor: manager.id, after: { requested_by: accountant.id } })
      t.equal((await env.admin('events').where({ type: 'approval_request.approved' }).whereRaw(`data->'object'->>'id' = ?`, [held.body.id])).length, 1)
      const again = await manager2.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
      t.equal(again.statusCode, 409)
      t.equal(again.body.error.code, 'approval_not_pending')
      t.equal((await refundsOf(cus)).length, 2)
      t.equal((await admin.post(`/v1/approval-requests/${held.body.id}/reject`, { reason: 'late' })).body.error.code, 'approval_not_pending')
    })
  })

  await t.test('concurrent refunds in one batch: the one over the threshold is held, the others post', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 20000)
    const res = await Promise.all([1000, 6000, 2000].map((amount) => accountant.api.post('/v1/refunds', { customer: cus, amount, method: 'cash', reason: `r${amount}` })))
    t.same(res.map((r) => r.statusCode), [201, 202, 201], res.map((r) => r.raw).join('\n'))
    t.equal(res[1].body.object, 'approval_request')
    t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 17000, current_balance: -17000 })
  })

  await t.test('the requester cannot approve: same key, or another key of the same user', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 9000)
    const held = await manager.api.post('/v1/refunds', { customer: cus, amount: 6000, method: 'cash', reason: 'mine' })
    t.equal(held.statusCode, 202, held.raw)
    const self = await manager.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(self.statusCode, 403)
    t.equal(self.body.error.code, 'self_approval')
    const sameUser = await keyFor('manager', 'maria')
    const other = await sameUser.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(other.statusCode, 403)
    t.equal(other.body.error.code, 'self_approval')
    t.equal((await refundsOf(cus)).length, 0)
    t.equal((await manager2.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})).statusCode, 200)
    t.equal((await refundsOf(cus)).length, 1)
  })

  await t.test('20 concurrent approvals of one request post it exactly once', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 50000)
    const held = await accountant.api.post('/v1/refunds', { customer: cus, amount: 30000, method: 'cash', reason: 'race' })
    t.equal(held.statusCode, 202, held.raw)
    const approvers = [manager, manager2, ...(await Promise.all([1, 2, 3].map((i) => keyFor('manager', `m${i}`))))]
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => approvers[i % approvers.length].api.post(`/v1/approval-requests/${held.body.id}/approve`, {})))
    const ok = answers.filter((a) => a.statusCode === 200)
    t.equal(ok.length, 1, answers.map((a) => a.statusCode).join(','))
    t.same(
      answers.filter((a) => a.statusCode !== 200).map((a) => [a.statusCode, a.body.error.code]),
      Array.from({ length: 19 }, () => [409, 'approval_not_pending']),
    )
    t.equal((await refundsOf(cus)).length, 1)
    t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 20000, current_balance: -20000 })
    t.equal(ok[0].body.result.id, (await refundsOf(cus))[0].id)
  })

  await t.test('reject: reason required, nothing posted, final', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 9000)
    const held = await accountant.api.post('/v1/refunds', { customer: cus, amount: 8000, method: 'cash', reason: 'reject me' })
    const noReason = await manager.api.post(`/v1/approval-requests/${held.body.id}/reject`, {})
    t.equal(noReason.statusCode, 400)
    t.equal(noReason.body.error.code, 'validation_failed')
    const res = await manager.api.post(`/v1/approval-requests/${held.body.id}/reject`, { reason: 'no receipt' })
    t.equal(res.statusCode, 200, res.raw)
    t.match(res.body, { status: 'rejected', reason: 'no receipt', decided_by: manager.id, result: null })
    t.equal((await env.admin('audit_log').where({ action: 'approval_request.rejected', entity_id: held.body.id })).length, 1)
    const late = await manager2.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(late.statusCode, 409)
    t.equal(late.body.error.code, 'approval_not_pending')
    t.equal((await refundsOf(cus)).length, 0)
    t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 9000, current_balance: -9000 })
  })

  await t.test('a pending request past expires_at reads as expired and cannot be approved', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 9000)
    const held = await accountant.api.post('/v1/refunds', { customer: cus, amount: 8000, method: 'cash', reason: 'too slow' })
    await env.admin('approval_requests').where({ id: held.body.id }).update({ expires_at: env.admin.raw(`now() - interval '1 minute'`) })
    t.equal((await manager.api.get(`/v1/approval-requests/${held.body.id}`)).body.status, 'expired')
    t.ok((await manager.api.get('/v1/approval-requests?status=expired')).body.data.some((r: any) => r.id === held.body.id))
    t.notOk((await manager.api.get('/v1/approval-requests?status=pending')).body.data.some((r: any) => r.id === held.body.id))
    const res = await manager.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(res.statusCode, 409)
    t.equal(res.body.error.code, 'approval_expired')
    t.equal((await refundsOf(cus)).length, 0)
  })

  await t.test('an action refused when approved: failed with its error, nothing posted', async (t) => {
    const cus = await customer(admin)
    await payment(admin, cus, 9000)
    const held = await accountant.api.post('/v1/refunds', { customer: cus, amount: 8000, method: 'cash', reason: 'spent meanwhile' })
    t.equal((await accountant.api.post('/v1/refunds', { customer: cus, amount: 4000, method: 'cash', reason: 'small' })).statusCode, 201)
    const res = await manager.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})
    t.equal(res.statusCode, 422, res.raw)
    t.equal(res.body.error.code, 'refund_exceeds_credit')
    t.equal(res.body.error.details?.approval_request, held.body.id)
    t.match((await manager.api.get(`/v1/approval-requests/${held.body.id}`)).body, { status: 'failed', error: { code: 'refund_exceeds_credit' }, result: null })
    t.equal((await refundsOf(cus)).length, 1)
    t.same(await balance(admin, cus), { pending_balance: 0, advance_balance: 5000, current_balance: -5000 })
    t.equal((await manager.api.post(`/v1/approval-requests/${held.body.id}/approve`, {})).body.error.code, 'approval_not_pending')
  })

  await t.test('write-offs, reversals and voids over their thresholds are held the same way', async (t) => {
    const cus = await customer(admin)
    const inv = await invoice(admin, cus, 10000)
    const wo = await accountant.api.post('/v1/write-offs', { invoice: inv.id, amount: 1500, reason: 'bad debt' })
    t.equal(wo.statusCode, 202, wo.raw)
    t.match(wo.body, { action: 'write_off.create', customer: cus, amount: 1500 })
    t.equal((await admin.get(`/v1/invoices/${inv.id}`)).body.outstanding, 10000)
    const approved = await manager.api.post(`/v1/approval-requests/${wo.body.id}/approve`, {})
    t.equal(approved.statusCode, 200, approved.raw)
    t.match(approved.body.result, { object: 'write_off', invoice: inv.id, amount: 1500 })
    t.equal((await admin.get(`/v1/invoices/${inv.id}`)).body.outstanding, 8500)
    t.equal((await accountant.api.post('/v1/write-offs', { invoice: inv.id, amount: 1000, reason: 'small' })).statusCode, 201)

    const pay = await payment(admin, cus, 2500)
    const txn = await txnOf(env, pay.id)
    const partial = await accountant.api.post(`/v1/transactions/${txn.id}/reverse`, { amount: 2001, reason: 'bank error' })
    t.equal(partial.statusCode, 202, partial.raw)
    t.match(partial.body, { action: 'reversal.create', payload: { params: { id: txn.id }, body: { amount: 2001 } }, amount: 2001 })
    const small = await accountant.api.post(`/v1/transactions/${txn.id}/reverse`, { amount: 500, reason: 'small' })
    t.equal(small.statusCode, 200, small.raw)
    const voidPay = await accountant.api.post(`/v1/payments/${pay.id}/void`, { reason: 'bounced' })
    t.equal(voidPay.statusCode, 200, 'what remains (2000) is not over 2000')

    const inv2 = await invoice(admin, cus, 3000)
    const voidInv = await accountant.api.post(`/v1/invoices/${inv2.id}/void`, { reason: 'wrong customer' })
    t.equal(voidInv.statusCode, 202, voidInv.raw)
    t.match(voidInv.body, { action: 'invoice.void', amount: 3000 })
    const done = await manager.api.post(`/v1/approval-requests/${voidInv.body.id}/approve`, {})
    t.equal(done.statusCode, 200, done.raw)
    t.match(done.body.result, { object: 'invoice', id: inv2.id, status: 'void' })
    t.equal((await manager.api.post(`/v1/approval-requests/${partial.body.id}/approve`, {})).body.error.code, 'already_reversed', 'the payment was voided meanwhile: the held reversal fails')
  })

  await t.test('the ledger is intact', async (t) => intact(t, env, tenant.uuid))
})

import t from 'tap'
import { setupTestEnv, TestEnv } from './helpers/app'
import { counts, balance, lines, payment, txnOf, intact } from './helpers/ledger'
import { withTenant } from '../core/kernel/db/tenant'
import { systemContext } from '../core/kernel/context'
import { Plan } from '../core/ledger/plan'
import { planRestoreRefundSources } from '../core/workflows/refund'
import { holdCustomer } from '../core/workflows/steps/locks'
import { builtInAccess } from '../core/kernel/permissions'





const unapplied = async (env: TestEnv, id: string) => Number((await env.admin('payments').where({ id }).first()).unapplied_amount)

t.test('refunds', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const customer = async (body: Record<string, unknown> = {}) => (await api.post('/v1/customers', { name: 'Refundee', ...body })).body.id as string

  await t.test('refund advance balance back to the customer', async (t) => {
    const cus = await customer()
    const pay = await payment(api, cus, 5000)
    const res = await api.post('/v1/refunds', { customer: cus, amount: 2000, method: 'cash', reason: 'Overpaid', refund_date: '2026-11-15' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { id: /^ref_[0-9a-z]{26}$/, object: 'refund', customer: cus, amount: 2000, currency: 'usd', source: null, method: 'cash', reason: 'Overpaid', refund_date: '2026-11-15' })
    t.same(res.body.sources, [{ source: pay.id, source_type: 'payment', amount: 2000 }])
    t.equal(await unapplied(env, pay.id), 3000)
    t.match(await env.admin('journal_entries').where({ id: res.body.journal_entry }).first(), { event: 'refund', source_id: res.body.id, entry_date: '2026-11-15' })
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['2100', 2000, 0, 2000, 0], ['1000', 0, 2000, 0, 2000]])
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 3000, current_balance: -3000 })
    t.match(await env.admin('customer_transactions').where({ source_id: res.body.id }).first(), { type: 'refund', amount: 2000, balance_before: -5000, balance_after: -3000, reason: 'Overpaid' })
    t.equal((await env.admin('events').where({ type: 'refund.created' }).whereRaw(`data->'object'->>'id' = ?`, [res.body.id])).length, 1)
    t.equal((await env.admin('audit_log').where({ action: 'refund.created', entity_id: res.body.id })).length, 1)
    t.same((await api.get(`/v1/refunds/${res.body.id}`)).body, res.body)
    t.same((await api.get(`/v1/refunds?customer=${cus}`)).body.data.map((r: any) => r.id), [res.body.id])
  })

  await t.test('a refund from a source takes its unapplied amount; bank methods credit the bank', async (t) => {
    const cus = await customer()
    const a = await payment(api, cus, 1000)
    const b = await payment(api, cus, 3000)
    const tooMuch = await api.post('/v1/refunds', { customer: cus, amount: 1500, source: a.id, method: 'card', reason: 'x' })
    t.equal(tooMuch.statusCode, 422)
    t.equal(tooMuch.body.error.code, 'refund_exceeds_credit', 'more than the source has, although the customer has enough')
    const res = await api.post('/v1/refunds', { customer: cus, amount: 800, source: a.id, method: 'card', reason: 'Card refund' })
    t.equal(res.statusCode, 201, res.raw)
    t.match(res.body, { source: a.id, source_type: 'payment' })
    t.same(await lines(env, res.body.journal_entry, { tx: true }), [['2100', 800, 0, 800, 0], ['1010', 0, 800, 0, 800]])
    t.equal(await unapplied(env, a.id), 200)
    t.equal(await unapplied(env, b.id), 3000)
    t.equal((await api.get(`/v1/payments/${a.id}`)).body.unapplied_amount, 200)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 3200, current_balance: -3200 })
    // What is refunded from a payment can no longer be applied.
    const inv = await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'x', quantity: 1, unit_amount: 1000 }] })
    const alc = await api.post('/v1/allocations', { source: a.id, invoice: inv.body.id, amount: 201 })
    t.equal(alc.body.error.code, 'over_allocation')
  })

  await t.test('without a source the oldest unapplied credit goes first; a reversal gives it back in that order', async (t) => {
    const cus = await customer()
    const a = await payment(api, cus, 1000)
    const b = await payment(api, cus, 3000)
    const res = await api.post('/v1/refunds', { customer: cus, amount: 1500, method: 'cash', reason: 'Closing the account' })
    t.equal(res.statusCode, 201, res.raw)
    t.same(res.body.sources, [{ source: a.id, source_type: 'payment', amount: 1000 }, { source: b.id, source_type: 'payment', amount: 500 }])
    t.equal(await unapplied(env, a.id), 0)
    t.equal(await unapplied(env, b.id), 2500)
    t.same((await api.get(`/v1/refunds/${res.body.id}`)).body.sources, res.body.sources)

    const ctx = systemContext(tenant.uuid, builtInAccess('admin'))
    const restored = await withTenant(env.db, tenant.uuid, async (trx) => {
      const read = async () => Promise.all([a.id, b.id].map(async (id) => Number((await trx('payments').where({ id }).first()).unapplied_amount)))
      const restore = async (amount: number, already?: number) => {
        const plan = new Plan(tenant.uuid)
        await planRestoreRefundSources(trx, plan, ctx, await holdCustomer(trx, plan, ctx, cus), res.body.id, amount, already)
        await plan.write(trx)
      }
      await restore(600)
      const first = await read()
      await restore(900, 600)
      const second = await read()
      await t.rejects(restore(1, 1500))
      throw { first, second } // roll back: only the reversal's own entry may move the balance
    }).catch((rolledBack) => rolledBack)
    t.same(restored, { first: [600, 2500], second: [1000, 3000] })
  })

  await t.test('reversing a refund drawn without a source gives the credit back to the sources it drew', async (t) => {
    const cus = await customer()
    const a = await payment(api, cus, 1000)
    const b = await payment(api, cus, 3000)
    const res = await api.post('/v1/refunds', { customer: cus, amount: 1500, method: 'cash', reason: 'Closing the account' })
    t.equal(res.statusCode, 201, res.raw)
    const txn = await txnOf(env, res.body.id)
    const part = await api.post(`/v1/transactions/${txn.id}/reverse`, { amount: 600, reason: 'Refund bounced in part' })
    t.equal(part.statusCode, 200, part.raw)
    t.same([await unapplied(env, a.id), await unapplied(env, b.id)], [600, 2500], 'the first source drawn gets it back first')
    const rest = await api.post(`/v1/transactions/${txn.id}/reverse`, { reason: 'Refund bounced' })
    t.equal(rest.statusCode, 200, rest.raw)
    t.same([await unapplied(env, a.id), await unapplied(env, b.id)], [1000, 3000])
    t.equal((await balance(api, cus)).advance_balance, 4000)
    await intact(t, env, tenant.uuid)
  })

  await t.test('foreign currency: the source rate, or a given one', async (t) => {
    const cus = await customer({ currency: 'eur' })
    const pay = await payment(api, cus, 1000, { exchange_rate: '1.20' })
    const fromSource = await api.post('/v1/refunds', { customer: cus, amount: 100, source: pay.id, method: 'cash', reason: 'x' })
    t.equal(fromSource.statusCode, 201, fromSource.raw)
    t.match(fromSource.body, { currency: 'eur', exchange_rate: '1.2' })
    t.same(await lines(env, fromSource.body.journal_entry, { tx: true }), [['2100', 120, 0, 100, 0], ['1000', 0, 120, 0, 100]])
    const noRate = await api.post('/v1/refunds', { customer: cus, amount: 100, method: 'cash', reason: 'x' })
    t.equal(noRate.body.error?.code, 'exchange_rate_required')
    const given = await api.post('/v1/refunds', { customer: cus, amount: 100, method: 'cash', reason: 'x', exchange_rate: '1.3' })
    t.same(await lines(env, given.body.journal_entry, { tx: true }), [['2100', 130, 0, 100, 0], ['1000', 0, 130, 0, 100]])
  })

  await t.test('rejections write nothing', async (t) => {
    const cus = await customer()
    const other = await customer()
    const pay = await payment(api, cus, 1000)
    const otherPay = await payment(api, other, 1000)
    const voided = await payment(api, cus, 500)
    await env.admin('payments').where({ id: voided.id }).update({ status: 'voided' })
    const otherTenant = await env.tenant()
    const otherApi = env.api(otherTenant.key)
    const foreignCus = (await otherApi.post('/v1/customers', { name: 'Far' })).body.id
    const foreignPay = await payment(otherApi, foreignCus, 1000)
    const empty = await customer()

    const before = await counts(env)
    const r = (extra: Record<string, unknown>) => ({ customer: cus, amount: 100, method: 'cash', reason: 'r', ...extra })
    const cases: [string, unknown, number, string][] = [
      ['over the advance balance', r({ amount: 1501 }), 422, 'refund_exceeds_credit'],
      ['no credit at all', r({ customer: empty }), 422, 'refund_exceeds_credit'],
      ['over the source', r({ amount: 1001, source: pay.id }), 422, 'refund_exceeds_credit'],
      ['voided source', r({ source: voided.id }), 422, 'invalid_state'],
      ["another customer's payment", r({ source: otherPay.id }), 404, 'resource_missing'],
      ["another tenant's payment", r({ source: foreignPay.id }), 404, 'resource_missing'],
      ["another tenant's customer", r({ customer: foreignCus }), 404, 'resource_missing'],
      ['no reason', { customer: cus, amount: 100, method: 'cash' }, 400, 'validation_failed'],
      ['zero amount', r({ amount: 0 }), 400, 'validation_failed'],
      ['fractional amount', r({ amount: 99.5 }), 400, 'validation_failed'],
      ['unknown method', r({ method: 'crypto' }), 400, 'payment_method_unknown'],
      ['bad date', r({ refund_date: '2026-13-01' }), 400, 'validation_failed'],
    ]
    for (const [name, body, status, code] of cases) {
      const res = await api.post('/v1/refunds', body)
      t.equal(res.statusCode, status, `${name}: ${res.raw}`)
      t.equal(res.body.error?.code, code, name)
    }
    t.same(await counts(env), before)
    t.equal(await unapplied(env, pay.id), 1000)
    t.same(await balance(api, cus), { pending_balance: 0, advance_balance: 1500, current_balance: -1500 })
    const manager = await env.key(tenant.key, 'manager')
    t.equal((await env.api(manager.secret).post('/v1/refunds', r({}))).statusCode, 201)
    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).post('/v1/refunds', r({}))).statusCode, 403)
    t.equal((await env.api(otherTenant.key).get(`/v1/refunds?customer=${cus}`)).statusCode, 404, "another tenant's customer is no filter")
  })

  await t.test('unapplied amounts: each payment = amount − live allocations − refunds; their sum = advance balance', async (t) => {
    // What a refund still holds of each source: its part, less what reversals of the refund gave
    // back, which goes to the parts in the order they were drawn.
    const { rows } = await env.admin.raw(
      `with reversed as (
         select t.source_id as refund_id, coalesce(-sum(r.amount), 0) as n
           from customer_transactions t join customer_transactions r on r.tenant_id = t.tenant_id and r.reverses_id = t.id
          where t.tenant_id = :t and t.type = 'refund' group by t.source_id
       ), refund_parts as (
         select s.source_id,
                s.amount - greatest(0, least(s.amount, coalesce(v.n, 0) - (sum(s.amount) over w - s.amount))) as refunded
           from refund_sources s left join reversed v on v.refund_id = s.refund_id
          where s.tenant_id = :t
         window w as (partition by s.refund_id order by s.line_no)
       )
       select p.id, p.amount, p.unapplied_amount,
              (select coalesce(sum(amount), 0) from allocations a where a.source_id = p.id and a.status = 'applied') as allocated,
              (select coalesce(sum(refunded), 0) from refund_parts r where r.source_id = p.id) as refunded
         from payments p where p.tenant_id = :t`,
      { t: tenant.uuid },
    )
    for (const p of rows) t.equal(Number(p.unapplied_amount), Number(p.amount) - Number(p.allocated) - Number(p.refunded), p.id)
    const sums = await env.admin.raw(
      `select b.customer_id, b.advance_balance, (select coalesce(sum(unapplied_amount), 0) from payments p where p.customer_id = b.customer_id) as unapplied
         from customer_balances b where b.tenant_id = ?`,
      [tenant.uuid],
    )
    for (const r of sums.rows) t.equal(Number(r.unapplied), Number(r.advance_balance), r.customer_id)
  })
})

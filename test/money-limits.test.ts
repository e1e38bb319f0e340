import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, counts, customer, intact, invoice } from './helpers/ledger'
import { withTenant } from '../core/kernel/db/tenant'
import { newId } from '../core/kernel/ids'
import { MAX_AMOUNT, MAX_BALANCE } from '../core/kernel/money'

// The range money may take (core/kernel/money.ts): one amount ≤ MAX_AMOUNT, one customer balance ≤
// MAX_BALANCE, sums over customers exact whatever their size. No amount can push a tenant into
// answering 500.

t.test('money limits', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const lines = (n: number, amount: number) => Array.from({ length: n }, () => ({ description: 'Big', quantity: 1, unit_amount: amount }))

  await t.test('one amount is at most MAX_AMOUNT: fields, lines and totals, refused with nothing written', async (t) => {
    const cus = await customer(api)
    const before = await counts(env)
    const over = await api.post('/v1/invoices', { customer: cus, lines: lines(1, MAX_AMOUNT + 1) })
    t.equal(over.statusCode, 400, over.raw)
    t.equal(over.body.error.code, 'validation_failed')
    const total = await api.post('/v1/invoices', { customer: cus, lines: lines(10, MAX_AMOUNT) })
    t.equal(total.statusCode, 400, total.raw)
    t.equal(total.body.error.code, 'invalid_amount')
    const quantity = await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'Many', quantity: 3, unit_amount: MAX_AMOUNT / 2 }] })
    t.equal(quantity.statusCode, 400)
    t.equal(quantity.body.error.code, 'invalid_amount')
    const pay = await api.post('/v1/payments', { customer: cus, amount: MAX_AMOUNT + 1, method: 'cash' })
    t.equal(pay.statusCode, 400)
    t.same(await counts(env), before, 'nothing written')
  })

  await t.test('a customer balance is at most MAX_BALANCE; the customer and the tenant keep answering', async (t) => {
    const cus = await customer(api)
    const invoices = []
    for (let i = 0; i < MAX_BALANCE / MAX_AMOUNT; i++) invoices.push(await invoice(api, cus, lines(1, MAX_AMOUNT)))
    t.equal((await balance(api, cus)).pending_balance, MAX_BALANCE, 'up to the limit is accepted')
    const before = await counts(env)
    const more = await api.post('/v1/invoices', { customer: cus, lines: lines(1, 100) })
    t.equal(more.statusCode, 422, more.raw)
    t.equal(more.body.error.code, 'balance_limit_exceeded')
    const credit = await api.post('/v1/payments', { customer: cus, amount: 100, method: 'cash' })
    t.equal(credit.statusCode, 201, 'a payment that lowers the balance is taken')
    t.same((await counts(env)).invoices, before.invoices, 'the refused invoice wrote nothing')
    for (const path of ['/v1/customers', `/v1/customers/${cus}`, `/v1/customers/${cus}/transactions`, '/v1/trial-balance', '/v1/reports/aging']) {
      t.equal((await api.get(path)).statusCode, 200, path)
    }
    const voided = await api.post(`/v1/invoices/${invoices[0].id}/void`, { reason: 'Too big' })
    t.equal(voided.statusCode, 200, voided.raw)
    await intact(t, env, tenant.uuid)
  })

  await t.test('sums over customers past 2^53 stay exact: numbers while exact, decimal strings beyond', async (t) => {
    // Two customers owing 5 × 10^15 each cannot be posted through the API any more; write the
    // entries as the runtime role would, to prove the trial balance still answers exactly.
    const big = await env.tenant()
    const bigApi = env.api(big.key)
    const huge = 5_000_000_000_000_000
    await withTenant(env.db, big.uuid, async (trx) => {
      for (const customerId of [await customer(bigApi), await customer(bigApi)]) {
        const id = newId('je')
        await trx('journal_entries').insert({ tenant_id: big.uuid, id, entry_date: '2026-11-02', event: 'invoice', source_type: 'test', source_id: 'test', currency: 'usd' })
        await trx('journal_lines').insert([
          { tenant_id: big.uuid, entry_id: id, line_no: 1, entry_date: '2026-11-02', account_code: '1100', role: 'ar', customer_id: customerId, currency: 'usd', debit: huge, tx_debit: huge },
          { tenant_id: big.uuid, entry_id: id, line_no: 2, entry_date: '2026-11-02', account_code: '4000', role: 'revenue', currency: 'usd', credit: huge, tx_credit: huge },
        ])
      }
    })
    const res = await bigApi.get('/v1/trial-balance?as_of=2026-11-30')
    t.equal(res.statusCode, 200, res.raw)
    t.same(res.body.totals, { debit: '10000000000000000', credit: '10000000000000000' })
    t.match(res.body.accounts.find((a: { account: string }) => a.account === '1100'), { debit: '10000000000000000', credit: 0, balance: '10000000000000000' })
    t.equal(res.body.balanced, true)
    t.equal((await api.get('/v1/trial-balance')).body.totals.debit.constructor, Number, 'small sums stay numbers')
  })
})

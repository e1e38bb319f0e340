import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { customer } from './helpers/ledger'

t.test('list filters: ending_before, created and date ranges, invoice search', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const other = await env.tenant()
  const otherApi = env.api(other.key)
  const cus = await customer(api)
  const ids: string[] = []
  for (let i = 1; i <= 5; i++) {
    const res = await api.post('/v1/invoices', {
      customer: cus,
      issue_date: `2026-11-0${i}`,
      due_date: `2026-12-0${i}`,
      lines: [{ description: 'Goods', quantity: 1, unit_amount: 100 * i }],
      external_id: i === 5 ? 'POS_50%' : `POS-${i}`,
    })
    t.equal(res.statusCode, 201, res.raw)
    ids.push(res.body.id)
  }
  // created_at of invoice i: 2026-11-0i 12:00 UTC.
  for (const [i, id] of ids.entries()) await env.admin('invoices').where({ id }).update({ created_at: `2026-11-0${i + 1}T12:00:00Z` })
  const list = async (qs: string) => {
    const res = await api.get(`/v1/invoices?${qs}`)
    t.equal(res.statusCode, 200, `${qs}: ${res.raw}`)
    return res.body
  }
  const idsOf = (body: any) => body.data.map((d: any) => ids.indexOf(d.id) + 1)

  await t.test('ending_before pages back towards newer items, newest first', async (t) => {
    const first = await list('limit=2')
    t.same(idsOf(first), [5, 4])
    t.equal(first.has_more, true)
    const second = await list(`limit=2&starting_after=${ids[3]}`)
    t.same(idsOf(second), [3, 2])
    const back = await list(`limit=2&ending_before=${ids[2]}`)
    t.same(idsOf(back), [5, 4])
    t.equal(back.has_more, false)
    const one = await list(`limit=1&ending_before=${ids[1]}`)
    t.same(idsOf(one), [3])
    t.equal(one.has_more, true)
    // Every list has it (here the payments, the customers and the audit log).
    t.equal((await api.get(`/v1/payments?ending_before=pay_0000000000aaaaaaaaaaaaaaaa`)).statusCode, 200)
    t.equal((await api.get(`/v1/customers?ending_before=${cus}`)).body.data.length, 0)
    const audit = (await api.get('/v1/audit-log?limit=2')).body.data
    const newer = await api.get(`/v1/audit-log?ending_before=${audit[1].id}`)
    t.equal(newer.statusCode, 200, newer.raw)
    t.same(newer.body.data.map((a: any) => a.id), [audit[0].id])
  })

  await t.test('created[...] takes an instant or a (UTC) date', async (t) => {
    t.same(idsOf(await list('created[gte]=2026-11-02&created[lt]=2026-11-04')), [3, 2])
    t.same(idsOf(await list('created[gt]=2026-11-02&created[lte]=2026-11-04')), [4, 3])
    t.same(idsOf(await list('created[lte]=2026-11-03')), [3, 2, 1])
    t.same(idsOf(await list('created[gt]=2026-11-03T12:00:00Z')), [5, 4])
    t.same(idsOf(await list('created[gte]=2026-11-03T12:00:00Z&created[lte]=2026-11-03T12:00:00.000Z')), [3])
    t.same(idsOf(await list('created[gte]=2026-11-05T11:00:00%2B01:00')), [5], 'with an offset (+ encoded)')
    // Another list, the customers: all created today.
    t.equal((await api.get('/v1/customers?created[lt]=2026-01-01')).body.data.length, 0)
    t.equal((await api.get('/v1/customers?created[gte]=2026-01-01')).body.data.length, 1)
  })

  await t.test('issue_date and due_date ranges; payments by received_date', async (t) => {
    t.same(idsOf(await list('issue_date[gte]=2026-11-02&issue_date[lte]=2026-11-03')), [3, 2])
    t.same(idsOf(await list('issue_date[gt]=2026-11-04')), [5])
    t.same(idsOf(await list('due_date[lt]=2026-12-02')), [1])
    t.same(idsOf(await list('due_date[lte]=2026-12-02&issue_date[gte]=2026-11-02')), [2])
    for (const d of ['2026-11-10', '2026-11-20']) t.equal((await api.post('/v1/payments', { customer: cus, amount: 10, method: 'cash', received_date: d })).statusCode, 201)
    const pays = (await api.get('/v1/payments?received_date[gte]=2026-11-15')).body.data
    t.same(pays.map((p: any) => p.received_date), ['2026-11-20'])
    t.equal((await api.get('/v1/credit-notes?issue_date[gte]=2026-01-01')).statusCode, 200)
  })

  await t.test('invoice search by number, external_id, or a prefix of either', async (t) => {
    const third = (await api.get(`/v1/invoices/${ids[2]}`)).body
    t.same(idsOf(await list(`number=${encodeURIComponent(third.number)}`)), [3])
    t.same(idsOf(await list('external_id=POS-2')), [2])
    t.same(idsOf(await list('q=POS-')), [4, 3, 2, 1])
    t.same(idsOf(await list('q=POS_')), [5], '_ is no wildcard')
    t.same(idsOf(await list('q=POS_50%25')), [5], '% is no wildcard')
    t.same(idsOf(await list(`q=${encodeURIComponent(third.number.slice(0, 4))}`)).length, 5)
    t.same(idsOf(await list('q=nothing')), [])
    t.same(idsOf(await list('external_id=POS-2&status=paid')), [])
    // Another tenant sees none of it.
    t.same((await otherApi.get('/v1/invoices?external_id=POS-2')).body.data, [])
    t.same((await otherApi.get('/v1/invoices?q=POS')).body.data, [])
  })

  await t.test('bad input: 400 validation_failed', async (t) => {
    for (const qs of [
      `starting_after=${ids[1]}&ending_before=${ids[3]}`,
      'ending_before=not-an-id',
      'created[gte]=yesterday',
      'created[gte]=2026-13-01',
      'created[eq]=2026-11-01',
      'issue_date[gte]=2026-11-01T00:00:00Z',
      'due_date[lt]=tomorrow',
      'issue_date=2026-11-01',
      'number=',
      `external_id=${'x'.repeat(201)}`,
      'q=',
    ]) {
      const res = await api.get(`/v1/invoices?${qs}`)
      t.equal(res.statusCode, 400, `${qs}: ${res.raw}`)
      t.equal(res.body.error.code, 'validation_failed', qs)
    }
    const both = await api.get(`/v1/payments?starting_after=pay_0000000000aaaaaaaaaaaaaaaa&ending_before=pay_0000000000aaaaaaaaaaaaaaab`)
    t.match(both.body.error, { code: 'validation_failed', param: 'ending_before' })
    t.equal((await api.get('/v1/audit-log?starting_after=aud_0000000000aaaaaaaaaaaaaaaa&ending_before=aud_0000000000aaaaaaaaaaaaaaab')).statusCode, 400)
    t.equal((await api.get('/v1/sales?received_date[gte]=2026-01-01')).statusCode, 400, 'sales have no received_date')
  })
})

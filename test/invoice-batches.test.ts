import t from 'tap'
import { setupTestEnv } from './helpers/app'
import { balance, counts, customer, intact } from './helpers/ledger'

// POST /v1/invoices requests of one tenant that arrive together post in one transaction
// (core/http/batch.ts). Each request must still get exactly the answer it would get alone.

const line = (amount: number) => [{ description: 'Goods', quantity: 1, unit_amount: amount }]

t.test('invoice batches', async (t) => {
  const env = await setupTestEnv(t)
  const invoiceBatches = async () => {
    const text = (await env.app.inject({ method: 'GET', url: '/metrics' })).body
    const read = (part: string) => Number(new RegExp(`^posting_batch_size_${part}\\{document="invoice"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0)
    return { count: read('count'), sum: read('sum') }
  }

  await t.test('concurrent invoices post together and each answers for itself', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const limited = await customer(api, { credit_limit: 10_000 })
    const free = await Promise.all([customer(api), customer(api), customer(api)])
    const gone = await customer(api)
    t.equal((await api.delete(`/v1/customers/${gone}`, { reason: 'left' })).statusCode, 200)
    const period = await api.post('/v1/periods', { start_date: '2026-09-01', end_date: '2026-09-30', type: 'monthly' })
    t.equal((await api.post(`/v1/periods/${period.body.id}/close`)).statusCode, 200)

    type Req = { body: Record<string, unknown>; expect: number; code?: string }
    const reqs: Req[] = []
    // 10 × 1,500 against a limit of 10,000: exactly 6 fit, whatever the order.
    for (let i = 0; i < 10; i++) reqs.push({ body: { customer: limited, lines: line(1500) }, expect: 0 })
    for (let i = 0; i < 30; i++) reqs.push({ body: { customer: free[i % 3], lines: line(100 + i) }, expect: 201 })
    reqs.push({ body: { customer: 'cus_0000000000aaaaaaaaaaaaaaaa', lines: line(100) }, expect: 404, code: 'resource_missing' })
    reqs.push({ body: { customer: gone, lines: line(100) }, expect: 409, code: 'customer_deleted' })
    reqs.push({ body: { customer: free[0], issue_date: '2026-09-15', lines: line(100) }, expect: 422, code: 'period_closed' })
    reqs.push({ body: { customer: free[1], currency: 'eur', lines: line(100) }, expect: 422, code: 'currency_mismatch' })

    const batchesBefore = await invoiceBatches()
    const results = await Promise.all(reqs.map((r) => api.post('/v1/invoices', r.body)))
    // The metric operators read batch sizes from: every request in one batch or another, fewer batches than requests.
    const batchesAfter = await invoiceBatches()
    t.equal(batchesAfter.sum - batchesBefore.sum, reqs.length, 'posting_batch_size counts every request once')
    t.ok(batchesAfter.count - batchesBefore.count < reqs.length, `in fewer batches (${batchesAfter.count - batchesBefore.count}) than requests`)
    reqs.forEach((r, i) => {
      if (r.expect) t.equal(results[i].statusCode, r.expect, results[i].raw)
      if (r.code) t.equal(results[i].body.error.code, r.code)
    })
    const limitedResults = results.slice(0, 10)
    t.equal(limitedResults.filter((r) => r.statusCode === 201).length, 6, 'six invoices fit the credit limit')
    t.ok(limitedResults.filter((r) => r.statusCode !== 201).every((r) => r.body.error.code === 'credit_limit_exceeded'))
    t.same(await balance(api, limited), { pending_balance: 9000, advance_balance: 0, current_balance: 9000 })
    const period_closed = results[reqs.findIndex((r) => r.code === 'period_closed')]
    t.equal(period_closed.body.error.param, 'posting_date')

    // Batched: several invoices share their transaction's timestamp.
    const created = await env.admin('invoices').where({ tenant_id: tenant.uuid }).select('created_at')
    t.equal(created.length, 36)
    t.ok(new Set(created.map((r: { created_at: Date }) => r.created_at.toISOString())).size < created.length, 'some invoices posted in one transaction')

    // Numbers are unique, each invoice has its entry, event and audit row.
    const numbers = created.length
    t.equal(Number((await env.admin('invoices').where({ tenant_id: tenant.uuid }).countDistinct('number as n'))[0].n), numbers)
    t.equal(Number((await env.admin('events').where({ tenant_id: tenant.uuid, type: 'invoice.created' }).count('* as n'))[0].n), numbers)
    t.equal(Number((await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'invoice.created' }).count('* as n'))[0].n), numbers)
    t.equal((await api.get('/v1/audit-log/verify')).body.ok, true, 'the audit chain verifies')

    // Each customer's sub-ledger, read in id order, chains balance_before to balance_after.
    for (const c of [limited, ...free]) {
      const rows = await env.admin('customer_transactions').where({ tenant_id: tenant.uuid, customer_id: c }).orderBy('id')
      let running = 0
      for (const r of rows) {
        t.equal(r.balance_before, running, `${c} ${r.id} starts where the previous row ended`)
        running = r.balance_after
      }
      t.equal(running, (await balance(api, c)).current_balance)
    }
    await intact(t, env, tenant.uuid)
  })

  await t.test('idempotency keys inside a batch', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const cus = await customer(api)
    const body = { customer: cus, lines: line(700) }
    const [a, b, c] = await Promise.all([
      api.post('/v1/invoices', body, { 'idempotency-key': 'batch-key-1' }),
      api.post('/v1/invoices', body, { 'idempotency-key': 'batch-key-1' }),
      api.post('/v1/invoices', body, { 'idempotency-key': 'batch-key-2' }),
    ])
    const statuses = [a.statusCode, b.statusCode].sort()
    // Either the second saw the first in flight (409) or, in a later batch, replays it (201).
    t.ok(statuses[0] === 201 && (statuses[1] === 201 || statuses[1] === 409), `statuses ${statuses}`)
    t.equal(c.statusCode, 201)
    const first = a.statusCode === 201 && !a.headers['idempotent-replayed'] ? a : b
    const replay = await api.post('/v1/invoices', body, { 'idempotency-key': 'batch-key-1' })
    t.equal(replay.statusCode, 201)
    t.equal(replay.headers['idempotent-replayed'], 'true')
    t.equal(replay.body.id, first.body.id)
    const reused = await api.post('/v1/invoices', { ...body, memo: 'other' }, { 'idempotency-key': 'batch-key-2' })
    t.equal(reused.statusCode, 422)
    t.equal(reused.body.error.code, 'idempotency_key_reused')
    t.same(await balance(api, cus), { pending_balance: 1400, advance_balance: 0, current_balance: 1400 })
    await intact(t, env, tenant.uuid)
  })

  await t.test('a batch that fails as a whole reruns each request alone', async (t) => {
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const cus = await Promise.all([customer(api), customer(api)])
    // A database failure only one invoice triggers, raised while the batch writes. The sequence
    // (not rolled back) counts the rows the trigger saw: more than 12 means a batch ran and reran.
    await env.admin.raw(`create sequence if not exists test_explode_seen`)
    await env.admin.raw(`grant usage on sequence test_explode_seen to recv_app`)
    await env.admin.raw(`
      create or replace function test_explode() returns trigger language plpgsql as $$
      begin
        perform nextval('test_explode_seen');
        if new.memo = 'explode' then raise exception 'boom' using errcode = 'XX001'; end if;
        return new;
      end $$`)
    await env.admin.raw(`create trigger test_explode before insert on invoices for each row execute function test_explode()`)
    t.teardown(() => env.admin.raw('drop trigger if exists test_explode on invoices'))
    const before = await counts(env)
    const bodies = Array.from({ length: 12 }, (_, i) => ({ customer: cus[i % 2], lines: line(1000 + i), ...(i === 5 ? { memo: 'explode' } : {}) }))
    const results = await Promise.all(bodies.map((b) => api.post('/v1/invoices', b)))
    results.forEach((r, i) => t.equal(r.statusCode, i === 5 ? 500 : 201, r.raw))
    const after = await counts(env)
    const seen = Number((await env.admin.raw(`select last_value from test_explode_seen`)).rows[0].last_value)
    t.ok(seen > 12, `the batch failed and its requests ran again alone (${seen} rows seen)`)
    t.equal(after.invoices - before.invoices, 11, 'eleven invoices, each once')
    t.equal(after.journal_entries - before.journal_entries, 11)
    t.equal(after.events - before.events, 11)
    const expected = (c: string) => bodies.filter((b, i) => i !== 5 && b.customer === c).reduce((s, b) => s + b.lines[0].unit_amount, 0)
    for (const c of cus) t.equal((await balance(api, c)).pending_balance, expected(c))
    await intact(t, env, tenant.uuid)
  })

  await t.test('a full queue answers 503 overloaded with Retry-After and writes nothing for it', async (t) => {
    const small = await setupTestEnv(t, { POSTING_QUEUE_MAX: 2, POSTING_BATCH_MAX: 1, POSTING_BATCH_LANES: 1 })
    const tenant = await small.tenant()
    const api = small.api(tenant.key)
    const cus = await customer(api)
    const before = await counts(small)
    const results = await Promise.all(Array.from({ length: 40 }, () => api.post('/v1/invoices', { customer: cus, lines: line(100) })))
    const refused = results.filter((r) => r.statusCode === 503)
    const posted = results.filter((r) => r.statusCode === 201)
    t.equal(refused.length + posted.length, 40, 'every request is posted or refused as overloaded')
    t.ok(refused.length > 0, `${refused.length} refused`)
    t.ok(refused.every((r) => r.body.error.code === 'overloaded' && r.headers['retry-after'] === '1'))
    const after = await counts(small)
    t.equal(after.invoices - before.invoices, posted.length, 'only the posted invoices were written')
    t.equal((await balance(api, cus)).pending_balance, 100 * posted.length)
    await intact(t, small, tenant.uuid)
  })
})

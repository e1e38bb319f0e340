import pino from 'pino'
import t from 'tap'
import { createHash } from 'node:crypto'
import { startWorker } from '../core/jobs/worker'
import { importChunkSize } from '../core/workflows/import-rows'
import { setupTestEnv } from './helpers/app'
import { balance, counts, intact, lines } from './helpers/ledger'
import { spawnNode, until } from './helpers/processes'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function multipart(fields: Record<string, string>, file: { name: string; content: Buffer } | null) {
  const boundary = `----import${Math.random().toString(16).slice(2)}`
  const parts: Buffer[] = []
  for (const [k, v] of Object.entries(fields)) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`))
  if (file) parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: text/csv\r\n\r\n`), file.content, Buffer.from('\r\n'))
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` }
}

t.test('CSV imports', async (t) => {
  const env = await setupTestEnv(t)
  const newWorker = () => startWorker({ config: env.config, db: env.db, log: pino({ level: 'silent' }), options: { relay: false, sweeps: false, schedules: false } })
  let worker = await newWorker()
  t.teardown(() => worker.close())
  const tenant = await env.tenant({ base_currency: 'usd' })
  const api = env.api(tenant.key)
  const upload = (type: string, csv: string, extra: Record<string, string> = {}, key = tenant.key) => {
    const { payload, contentType } = multipart({ type, ...extra }, { name: `${type}.csv`, content: Buffer.from(csv) })
    return env.app.inject({ method: 'POST', url: '/v1/imports', payload, headers: { authorization: `Bearer ${key}`, 'content-type': contentType } })
  }
  const finished = async (id: string) => {
    const deadline = Date.now() + 30000
    for (;;) {
      const r = (await api.get(`/v1/imports/${id}`)).body
      if (r.status === 'completed' || r.status === 'failed' || Date.now() > deadline) return r
      await sleep(100)
    }
  }
  const errorsCsv = async (id: string) => (await env.app.inject({ method: 'GET', url: `/v1/imports/${id}/errors`, headers: { authorization: `Bearer ${tenant.key}` } })).body

  await t.test('customers: good rows post, refused rows write nothing and are listed with their codes', async (t) => {
    const csv = [
      'name,email,external_id,credit_limit,currency',
      'Ada,ada@example.com,EXT-1,50000,usd',
      'Bob,not-an-email,EXT-2,,usd',
      'Cy,,EXT-3,,usd',
      'Dup,,EXT-1,,usd',
      ',,EXT-5,,usd',
      'Eve,eve@example.com,EXT-6,-5,usd',
    ].join('\n')
    const res = await upload('customers', csv)
    t.equal(res.statusCode, 202, res.body)
    const imp = JSON.parse(res.body)
    t.match(imp, { id: /^imp_/, object: 'import', type: 'customers', status: 'queued', dry_run: false, sha256: createHash('sha256').update(csv).digest('hex') })
    const done = await finished(imp.id)
    t.match(done, { status: 'completed', rows_total: 6, rows_done: 6, rows_failed: 4, progress: 1, error: null })
    const report = await errorsCsv(imp.id)
    t.match(report, /^row,error_code,error_message,param\n/)
    const refused = report.trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 2))
    t.same(refused, [['2', 'validation_failed'], ['4', 'duplicate_external_id'], ['5', 'validation_failed'], ['6', 'validation_failed']])
    const all = (await api.get('/v1/customers?limit=100')).body.data.map((c: any) => c.external_id).sort()
    t.same(all, ['EXT-1', 'EXT-3'], 'only the good rows')
    const again = await upload('customers', csv)
    t.equal(again.statusCode, 200, 'the same file again answers the first import')
    t.equal(JSON.parse(again.body).id, imp.id)
  })

  await t.test('opening balances post against Opening balance equity; invoices and payments through their workflows', async (t) => {
    const ob = ['customer_external_id,amount,date,due_date,reason', 'EXT-1,120000,2026-11-01,2026-11-15,Carried from the old system', 'EXT-3,-2500,2026-11-01,,Old credit', 'EXT-404,100,,,Nobody'].join('\n')
    const done = await finished(JSON.parse((await upload('opening_balances', ob)).body).id)
    t.match(done, { status: 'completed', rows_total: 3, rows_failed: 1 })
    t.match(await errorsCsv(done.id), /\n3,resource_missing,No customer with external_id 'EXT-404'/)
    const ada = (await api.get('/v1/customers?q=Ada')).body.data[0].id
    const cy = (await api.get('/v1/customers?q=Cy')).body.data[0].id
    t.same(await balance(api, ada), { pending_balance: 120000, advance_balance: 0, current_balance: 120000 })
    t.same(await balance(api, cy), { pending_balance: 0, advance_balance: 2500, current_balance: -2500 })
    const dn = (await api.get(`/v1/invoices?customer=${ada}`)).body.data[0]
    t.match(dn, { kind: 'debit_note', due_date: '2026-11-15', total: 120000 })
    t.same(await lines(env, dn.journal_entry), [['1100', 120000, 0], ['3900', 0, 120000]], 'Dr AR / Cr Opening balance equity')

    const inv = ['customer_external_id,description,quantity,unit_amount,tax_rate,issue_date,due_date', 'EXT-3,Consulting,2,1500,0.2,2026-11-20,2026-12-20', 'EXT-3,Bad,1,abc,,,'].join('\n')
    const invDone = await finished(JSON.parse((await upload('invoices', inv)).body).id)
    t.match(invDone, { status: 'completed', rows_total: 2, rows_failed: 1 })
    t.match(await errorsCsv(invDone.id), /\n2,validation_failed,.*,unit_amount/)
    const cyInv = (await api.get(`/v1/invoices?customer=${cy}`)).body.data.find((i: any) => i.kind === 'invoice')
    t.match(cyInv, { total: 3600, due_date: '2026-12-20' })

    const pay = [`customer,amount,method,invoice,auto_apply`, `${ada},20000,bank_transfer,${dn.id},`, `${cy},1000,card,,true`, `${cy},5,teleport,,`].join('\n')
    const payDone = await finished(JSON.parse((await upload('payments', pay)).body).id)
    t.match(payDone, { status: 'completed', rows_failed: 1 })
    t.same(await balance(api, ada), { pending_balance: 100000, advance_balance: 0, current_balance: 100000 })
    t.same(await balance(api, cy), { pending_balance: 3600 - 1000, advance_balance: 2500, current_balance: 100 })

    // A receipt number links an imported invoice (external_id, unique), sold by weight.
    const weighed = ['customer_external_id,description,quantity,unit_amount,external_id', 'EXT-3,Cheese,1.5,333,POS-77', 'EXT-3,Cheese again,1,100,POS-77'].join('\n')
    const weighedDone = await finished(JSON.parse((await upload('invoices', weighed)).body).id)
    t.match(weighedDone, { status: 'completed', rows_total: 2, rows_failed: 1 })
    t.match(await errorsCsv(weighedDone.id), /\n2,external_id_taken,/)
    t.match((await api.get('/v1/invoices?external_id=POS-77')).body.data, [{ total: 500, external_id: 'POS-77', lines: [{ quantity: '1.5', net_amount: 500 }] }])
    await intact(t, env, tenant.uuid)
  })

  await t.test('a dry run posts nothing and reports what a real import would refuse', async (t) => {
    const csv = ['customer_external_id,amount', 'EXT-1,700', 'EXT-1,0', 'EXT-1,9007199254740993'].join('\n')
    const before = await counts(env)
    const dry = await finished(JSON.parse((await upload('opening_balances', csv, { dry_run: 'true' })).body).id)
    t.match(dry, { status: 'completed', dry_run: true, rows_total: 3, rows_failed: 2 })
    t.same(await counts(env), before, 'nothing written')
    const real = await upload('opening_balances', csv)
    t.equal(real.statusCode, 202, 'the same file for real is another import')
    t.match(await finished(JSON.parse(real.body).id), { status: 'completed', rows_failed: 2 })
  })

  await t.test('a resumed import posts only the rows after its last committed chunk', async (t) => {
    await worker.close()
    const csv = ['name,external_id', 'R1,R-1', 'R2,R-2', 'R3,R-3', 'R4,R-4'].join('\n')
    const imp = JSON.parse((await upload('customers', csv)).body)
    // As if an earlier attempt had committed the first two rows and then crashed.
    await env.admin('imports').where({ tenant_id: tenant.uuid, id: imp.id }).update({ status: 'importing', rows_done: 2 })
    worker = await newWorker()
    t.match(await finished(imp.id), { status: 'completed', rows_total: 4, rows_done: 4 })
    const ext = (await api.get('/v1/customers?q=R&limit=100')).body.data.map((c: any) => c.external_id).filter((e: string) => e?.startsWith('R-')).sort()
    t.same(ext, ['R-3', 'R-4'])
  })

  await t.test('2,000 invoice rows with bad rows of every kind: the good ones post, each refused row writes nothing and is listed with its code', async (t) => {
    const make = async (body: Record<string, unknown>) => (await api.post('/v1/customers', body)).body.id as string
    const good = await make({ name: 'Bulk Good', external_id: 'BULK-G' })
    const limited = await make({ name: 'Bulk Limited', external_id: 'BULK-L', credit_limit: 1000 })
    const suspended = await make({ name: 'Bulk Suspended', external_id: 'BULK-S' })
    t.equal((await api.patch(`/v1/customers/${suspended}`, { status: 'suspended' })).statusCode, 200)
    const foreign = (await env.api((await env.tenant({ name: 'Bulk Other' })).key).post('/v1/customers', { name: 'Theirs' })).body.id as string
    // One kind per row number modulo 12; kinds 0-4 are good rows.
    const kinds: [string, (i: number) => string][] = [
      ...[0, 1, 2, 3, 4].map((): [string, (i: number) => string] => ['', (i) => `,BULK-G,Item ${i},1,${100 + i},,2026-11-20`]),
      ['resource_missing', (i) => `,BULK-NOBODY,Item ${i},1,100,,`],
      ['validation_failed', (i) => `,BULK-G,Item ${i},1,12.50,,`],
      ['resource_missing', (i) => `${foreign},,Item ${i},1,100,,`],
      ['validation_failed', (i) => `,BULK-G,Item ${i},1,100,,2026-02-30`],
      ['customer_suspended', (i) => `,BULK-S,Item ${i},1,100,,`],
      ['credit_limit_exceeded', (i) => `,BULK-L,Item ${i},1,5000,,`],
      ['validation_failed', (i) => `,BULK-G,${'x'.repeat(501)},${i},100,,`],
    ]
    const rows = Array.from({ length: 2000 }, (_, i) => kinds[(i + 1) % 12][1](i + 1))
    const csv = ['customer,customer_external_id,description,quantity,unit_amount,tax_rate,issue_date', ...rows].join('\n')
    const before = await counts(env)
    const done = await finished(JSON.parse((await upload('invoices', csv)).body).id)
    const expected = Array.from({ length: 2000 }, (_, i) => [i + 1, kinds[(i + 1) % 12][0]] as const).filter(([, code]) => code !== '')
    t.match(done, { status: 'completed', rows_total: 2000, rows_done: 2000, rows_failed: expected.length, progress: 1 })
    const report = (await errorsCsv(done.id)).trim().split('\n').slice(1).map((l) => l.split(',').slice(0, 2))
    t.same(report, expected.map(([row, code]) => [String(row), code]), 'every refused row, in order, with its code')
    const posted = Array.from({ length: 2000 }, (_, i) => i + 1).filter((r) => kinds[r % 12][0] === '')
    t.same(await balance(api, good), { pending_balance: posted.reduce((a, r) => a + 100 + r, 0), advance_balance: 0, current_balance: posted.reduce((a, r) => a + 100 + r, 0) })
    for (const c of [limited, suspended]) t.equal((await api.get(`/v1/invoices?customer=${c}`)).body.data.length, 0, 'nothing for the refused customers')
    const after = await counts(env)
    t.equal(after.journal_entries - before.journal_entries, posted.length, 'one journal entry per good row, none for a refused one')
    await intact(t, env, tenant.uuid)
  })

  await t.test('a worker killed in the middle of an import: the next one resumes after the last committed chunk, no row twice', async (t) => {
    await worker.close()
    const c = env.config
    const processEnv: Record<string, string> = {
      DATABASE_URL: c.DATABASE_URL, DB_APP_PASSWORD: c.DB_APP_PASSWORD, APP_DATABASE_URL: c.APP_DATABASE_URL ?? '', LISTEN_DATABASE_URL: c.LISTEN_DATABASE_URL ?? '',
      DB_PREPARED_STATEMENTS: String(c.DB_PREPARED_STATEMENTS), QUEUE_PREFIX: c.QUEUE_PREFIX, REDIS_URL: c.REDIS_URL, DATA_ENCRYPTION_KEY: c.DATA_ENCRYPTION_KEY,
      LOG_LEVEL: 'warn', SKIP_ENSURE_SERVICES: '1',
    }
    // Short locks, so the killed worker's job is found stalled and taken again within seconds.
    const options = JSON.stringify({ worker: { lockDurationMs: 2000, stalledIntervalMs: 1000, closeGraceMs: 500, relay: false, sweeps: false, schedules: false } })
    const first = spawnNode(t, 'test/helpers/worker-process.ts', [], { ...processEnv, FAULTS_WORKER_OPTIONS: options })
    const total = 5 * importChunkSize('customers') // five chunks: the kill lands between two of them
    const csv = ['name,external_id', ...Array.from({ length: total }, (_, i) => `Crash ${i + 1},CRASH-${i + 1}`)].join('\n')
    const id = JSON.parse((await upload('customers', csv)).body).id as string
    const progress = () => env.admin('imports').where({ id }).first('rows_done', 'status')
    const at = await until('a committed chunk', async () => {
      const p = await progress()
      return p.rows_done > 0 ? p : null
    }, 60000, 10)
    await first.kill9()
    const killedAt = (await progress()).rows_done as number
    t.ok(killedAt < total, `killed at ${killedAt} of ${total} rows (${at.status})`)
    spawnNode(t, 'test/helpers/worker-process.ts', [], { ...processEnv, FAULTS_WORKER_OPTIONS: options })
    const deadline = Date.now() + 60000
    let end: any
    while (Date.now() < deadline && (end = (await api.get(`/v1/imports/${id}`)).body).status !== 'completed') await sleep(100)
    t.match(end, { status: 'completed', rows_total: total, rows_done: total, rows_failed: 0 })
    const stored = await env.admin('customers').where({ tenant_id: tenant.uuid }).whereLike('external_id', 'CRASH-%').select(env.admin.raw('count(*)::int as n'), env.admin.raw('count(distinct external_id)::int as d'))
    t.same(stored[0], { n: total, d: total }, 'every row once')
    worker = await newWorker()
  })

  await t.test('refused files', async (t) => {
    const bad = await finished(JSON.parse((await upload('customers', 'name,colour\nAda,red\n')).body).id)
    t.match(bad, { status: 'failed', error: /validation_failed: Unknown column\(s\) for a customers import: colour/ })
    const ragged = await finished(JSON.parse((await upload('customers', 'name,email\nAda,a@b.c,extra\n')).body).id)
    t.match(ragged, { status: 'failed', error: /^invalid_csv/ })
    const cases: [Record<string, string>, Buffer | null, number, string][] = [
      [{ type: 'suppliers' }, Buffer.from('name\nx\n'), 400, 'type'],
      [{}, Buffer.from('name\nx\n'), 400, 'type'],
      [{ type: 'customers', dry_run: 'maybe' }, Buffer.from('name\nx\n'), 400, 'dry_run'],
      [{ type: 'customers' }, null, 400, 'file'],
      [{ type: 'customers' }, Buffer.from('name\n\u0000\n'), 400, 'file'],
    ]
    for (const [fields, content, status, param] of cases) {
      const { payload, contentType } = multipart(fields, content ? { name: 'x.csv', content } : null)
      const res = await env.app.inject({ method: 'POST', url: '/v1/imports', payload, headers: { authorization: `Bearer ${tenant.key}`, 'content-type': contentType } })
      t.equal(res.statusCode, status, `${JSON.stringify(fields)} → ${res.body}`)
      t.equal(JSON.parse(res.body).error.param, param)
    }
    t.equal((await api.post('/v1/imports', { type: 'customers' })).statusCode, 415)
    const accountant = await env.key(tenant.key, 'accountant')
    t.equal((await upload('customers', 'name\nZed\n', {}, accountant.secret)).statusCode, 403)
    const other = await env.tenant({ name: 'Other' })
    const mine = JSON.parse((await upload('customers', 'name\nMine\n')).body).id
    t.equal((await env.api(other.key).get(`/v1/imports/${mine}`)).statusCode, 404)
  })
})

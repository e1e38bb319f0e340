import { randomUUID } from 'node:crypto'
import nodeHttp from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { createDb, type Db } from '../core/kernel/db/knex'
import { migrate } from '../core/kernel/db/migrate'
import { checkLedger } from '../core/ledger/integrity'
import { closeNumbering, nextNumber } from '../core/ledger/numbering'
import { APP_ROLE } from '../core/kernel/db/migration-helpers'
import type { RequestContext } from '../core/kernel/context'
import { PLATFORM_TOKEN } from './helpers/app'
import { APP_PASSWORD, createTestDatabase } from './helpers/db'
import { pooledEnv, serviceEnv } from './helpers/service-env'
import { freePort, http, privatePostgres, privateRedis, sleep, spawnNode, until, waitReady, type HttpAnswer, type Proc } from './helpers/processes'

/**
 * Issue 10, "Faults, as tests": real faults against real processes. The service runs as its own
 * process (`core/main.ts api`, and the worker as test/helpers/worker-process.ts), on real Postgres
 * and Redis; the faults are a SIGKILL of the API, an immediate shutdown of Postgres, a SIGKILL of
 * Redis (no persistence: every queued job is lost) and a SIGKILL of the worker in the middle of
 * webhook sends. Postgres and Redis are private instances where they are restarted, never the
 * shared ones other test files use. What must hold: no acknowledged request is lost, a retry with
 * the same Idempotency-Key has exactly one effect, a database outage answers 503
 * `service_unavailable` (never 500) and heals by itself, the ledger stays balanced with no drift,
 * and every event's webhook is answered 2xx exactly once.
 */

interface Posting {
  key: string
  path: '/v1/invoices' | '/v1/payments'
  body: Record<string, unknown>
}

/** The n-th posting of a load: two invoices for each payment (half of them auto-applied), integer amounts. */
function posting(tag: string, n: number, customers: string[]): Posting {
  const customer = customers[n % customers.length]
  const key = `${tag}-${n}`
  if (n % 3 === 2) return { key, path: '/v1/payments', body: { customer, amount: 500 + ((n * 37) % 2000), method: 'cash', auto_apply: n % 2 === 0 } }
  return { key, path: '/v1/invoices', body: { customer, lines: [{ description: `Item ${n}`, quantity: 1 + (n % 3), unit_amount: 250 + ((n * 53) % 1500) }] } }
}

const send = (base: string, apiKey: string, p: Posting) => http(base, 'POST', p.path, { key: apiKey, body: p.body, headers: { 'idempotency-key': p.key } })
const ok = (a: HttpAnswer) => a.status !== null && a.status >= 200 && a.status < 300

/**
 * Runs postings `concurrency` at a time until `next` gives none; a client that is refused waits
 * 200 ms before its next request (a polite client honours Retry-After; shortened here).
 */
async function load(concurrency: number, next: () => Posting | null, sendOne: (p: Posting) => Promise<HttpAnswer>, onAnswer: (p: Posting, a: HttpAnswer) => void): Promise<void> {
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let p = next(); p; p = next()) {
        const a = await sendOne(p)
        onAnswer(p, a)
        if (!ok(a)) await sleep(200)
      }
    }),
  )
}

async function provision(base: string, customers: number): Promise<{ uuid: string; key: string; customers: string[] }> {
  const tenant = await http(base, 'POST', '/v1/tenants', { key: PLATFORM_TOKEN, body: { name: 'Faulty Merchant', base_currency: 'usd' }, headers: { 'idempotency-key': 'provision' } })
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${JSON.stringify(tenant.body)}`)
  const uuid = tenant.body.id.replace(/^ten_/, '').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')
  const ids: string[] = []
  for (let i = 0; i < customers; i++) {
    const c = await http(base, 'POST', '/v1/customers', { key: tenant.body.api_key, body: { name: `Customer ${i}` }, headers: { 'idempotency-key': `customer-${i}` } })
    if (c.status !== 201) throw new Error(`customer: ${c.status} ${JSON.stringify(c.body)}`)
    ids.push(c.body.id)
  }
  return { uuid, key: tenant.body.api_key, customers: ids }
}

async function startApi(t: Test, env: Record<string, string>): Promise<{ base: string; proc: Proc }> {
  const base = `http://127.0.0.1:${env.PORT}`
  const proc = spawnNode(t, 'core/main.ts', ['api'], env)
  await waitReady(base, proc)
  return { base, proc }
}

/** The test worker process with timings a test can wait for (see test/helpers/worker-process.ts). */
function startWorkerProcess(t: Test, env: Record<string, string>, webhooks: Record<string, unknown> = {}): Proc {
  const options = {
    worker: {
      relay: { sweepEveryMs: 300, republishAfterMs: 1500, idleRoundMs: 20, publishTimeoutMs: 1000 },
      sweepEveryMs: 300,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      scheduleCheckMs: 1000,
      closeGraceMs: 1000,
    },
    webhooks: { sweepGraceMs: 1000, timeoutMs: 3000, retryScheduleMs: [200, 500, 1000, 2000, 4000], ...webhooks },
  }
  return spawnNode(t, 'test/helpers/worker-process.ts', [], { ...env, FAULTS_WORKER_OPTIONS: JSON.stringify(options) })
}

/** A superuser connection to a database, closed with the test. */
function adminDb(t: Test, url: string): Db {
  const db = createDb(url, { poolMax: 2 })
  t.teardown(() => db.destroy())
  return db
}

/** Invoices and payments of the tenant. */
async function documents(admin: Db, tenant: string): Promise<{ ids: Set<string>; count: number }> {
  const { rows } = await admin.raw(`select id from invoices where tenant_id = ? union all select id from payments where tenant_id = ?`, [tenant, tenant])
  return { ids: new Set(rows.map((r: { id: string }) => r.id)), count: rows.length }
}

/**
 * After the fault: every request is retried with its key and body. An acknowledged one must replay
 * its first answer exactly (`Idempotent-Replayed: true`); any other must now succeed (replayed when
 * it had committed without its answer reaching the client, else created now). Then every
 * acknowledged document exists, there is one document per key, and the ledger holds.
 */
async function retryAndCheck(t: Test, base: string, tenant: { uuid: string; key: string }, admin: Db, first: Map<string, { p: Posting; a: HttpAnswer }>) {
  let replayedAcks = 0
  let differing = 0
  let recovered = 0
  const entries = [...first.values()]
  let i = 0
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (i < entries.length) {
        const { p, a } = entries[i++]
        const again = await send(base, tenant.key, p)
        if (ok(a)) {
          if (again.status === a.status && again.headers['idempotent-replayed'] === 'true' && JSON.stringify(again.body) === JSON.stringify(a.body)) replayedAcks++
          else {
            differing++
            t.fail(`acknowledged ${p.key} did not replay its first answer`, { first: a, again })
          }
        } else if (again.status === 201) recovered++
        else t.fail(`retry of unacknowledged ${p.key} answered ${again.status}`, { again })
      }
    }),
  )
  const acked = entries.filter((e) => ok(e.a))
  t.equal(replayedAcks, acked.length, `all ${acked.length} acknowledged requests replay their first answer (same ids and amounts)`)
  t.equal(differing, 0, 'no acknowledged request answered differently')
  t.equal(recovered, entries.length - acked.length, `all ${entries.length - acked.length} unacknowledged requests succeed on retry`)
  const docs = await documents(admin, tenant.uuid)
  t.equal(acked.filter((e) => !docs.ids.has(e.a.body.id)).length, 0, 'every acknowledged document exists (lost: 0)')
  t.equal(docs.count, first.size, `one document per idempotency key (${docs.count} documents, ${first.size} keys)`)
  t.same(await checkLedger(admin as never, tenant.uuid), [], 'ledger invariants hold: entries balance, cached balances equal the ledger')
  return { acked: acked.length, unacked: entries.length - acked.length }
}

// ---- a webhook receiver that can hold requests open ----------------------------------------------

interface Hook {
  /** webhook-id: the event id. */
  id: string
  /** Status answered, or null while held (or never answered). */
  answered: number | null
}

interface HookReceiver {
  url: string
  hooks: Hook[]
  /** Held requests still open. */
  held(): number
  /** 2xx answers per event id. */
  answered2xx(): Map<string, number>
  /** From now on answer every request at once; held ones are dropped, never answered. */
  release(): void
}

/** Answers 200 at once while `hold(n)` is false for the n-th request (0-based); holds it open otherwise. */
async function hookReceiver(t: Test, hold: (n: number) => boolean = () => false): Promise<HookReceiver> {
  const hooks: Hook[] = []
  const open = new Set<nodeHttp.ServerResponse>()
  let released = false
  const server = nodeHttp.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      const hook: Hook = { id: String(req.headers['webhook-id']), answered: null }
      const n = hooks.length
      hooks.push(hook)
      if (!released && hold(n)) {
        open.add(res)
        res.on('close', () => open.delete(res))
        return
      }
      res.on('finish', () => (hook.answered = 200))
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`,
    hooks,
    held: () => open.size,
    answered2xx() {
      const m = new Map<string, number>()
      for (const h of hooks) if (h.answered !== null && h.answered < 300) m.set(h.id, (m.get(h.id) ?? 0) + 1)
      return m
    },
    release() {
      released = true
      for (const res of open) res.destroy()
    },
  }
}

// ---- 1. kill -9 of the API ----------------------------------------------------------------------

t.test('kill -9 of the API in the middle of a load: no acknowledged request lost, each key one effect', async (t) => {
  const database = await createTestDatabase()
  t.teardown(() => database.drop())
  const env = serviceEnv(database.url, { PORT: String(await freePort()), ...pooledEnv(database.url) })
  const first = await startApi(t, env)
  const tenant = await provision(first.base, 8)
  const admin = adminDb(t, database.url)

  const TOTAL = 240
  const KILL_AT = 80 // acknowledged answers before the kill
  const answers = new Map<string, { p: Posting; a: HttpAnswer }>()
  let n = 0
  let acked = 0
  let killedAt = -1
  await load(
    24,
    () => (n < TOTAL ? posting('kill', n++, tenant.customers) : null),
    (p) => send(first.base, tenant.key, p),
    (p, a) => {
      answers.set(p.key, { p, a })
      if (ok(a) && ++acked === KILL_AT) {
        killedAt = answers.size
        first.proc.child.kill('SIGKILL') // right now, with requests in flight
      }
    },
  )
  await first.proc.exited
  t.ok(killedAt > 0, `SIGKILL after ${KILL_AT} acknowledged answers (${killedAt} answers in)`)
  const firstAnswers = [...answers.values()].map((e) => e.a)
  const serverErrors = firstAnswers.filter((a) => a.status !== null && a.status >= 500)
  t.equal(serverErrors.length, 0, 'no 5xx before the kill')
  t.ok(firstAnswers.some((a) => a.status === null), 'requests in flight or sent after the kill got no answer')

  const second = await startApi(t, env) // same database, same port
  const r = await retryAndCheck(t, second.base, tenant, admin, answers)
  t.comment(`kill -9 of the API: ${TOTAL} postings, 1 kill, ${r.acked} acknowledged (lost: 0), ${r.unacked} unacknowledged, all retried once`)
})

// ---- 2. Postgres restarted under load -----------------------------------------------------------

t.test('Postgres restarted under load: 503 service_unavailable while down, heals by itself, one effect per key', async (t) => {
  const pg = await privatePostgres(t)
  const url = pg.url('receivables')
  await migrate(url, APP_PASSWORD)
  const env = serviceEnv(url, { PORT: String(await freePort()) })
  const api = await startApi(t, env)
  const tenant = await provision(api.base, 6)
  const admin = adminDb(t, url)

  await t.test('/ready is bounded: a frozen Postgres (connections open, nothing answers) is not ready within seconds', async (t) => {
    await pg.freeze()
    try {
      const started = Date.now()
      const ready = await http(api.base, 'GET', '/ready', { timeoutMs: 10000 })
      t.equal(ready.status, 503, `/ready answers 503 (${JSON.stringify(ready.body?.checks ?? ready.error)})`)
      t.not(ready.body?.checks?.postgres, 'ok', 'postgres not ok')
      t.equal(ready.body?.checks?.redis, 'ok', 'redis still ok: the checks are bounded one by one')
      t.ok(Date.now() - started < 4000, `answered in ${Date.now() - started} ms`)
    } finally {
      await pg.thaw()
    }
    await until('/ready 200 after the thaw', async () => (await http(api.base, 'GET', '/ready', { timeoutMs: 5000 })).status === 200, 15000, 100)
  })

  const answers = new Map<string, { p: Posting; a: HttpAnswer; at: number }>()
  let n = 0
  let stop = false
  let acked = 0
  const loading = load(
    8,
    () => (stop ? null : posting('pg', n++, tenant.customers)),
    (p) => send(api.base, tenant.key, p),
    (p, a) => {
      answers.set(p.key, { p, a, at: Date.now() })
      if (ok(a)) acked++
    },
  )
  try {
    await until('40 postings acknowledged before the fault', () => acked >= 40)
    const downAt = Date.now()
    await pg.stop()

    await t.test('while Postgres is down', async (t) => {
      const started = Date.now()
      const ready = await http(api.base, 'GET', '/ready', { timeoutMs: 10000 })
      t.equal(ready.status, 503, '/ready answers 503')
      t.not(ready.body?.checks?.postgres, 'ok', `postgres not ok: ${ready.body?.checks?.postgres}`)
      t.ok(Date.now() - started < 4000, `/ready answered in ${Date.now() - started} ms (bounded, never hangs)`)
      const p = posting('pg-down', 0, tenant.customers)
      const a = await send(api.base, tenant.key, p)
      answers.set(p.key, { p, a, at: Date.now() })
      t.equal(a.status, 503, 'a posting answers 503')
      t.equal(a.body?.error?.code, 'service_unavailable', 'with the error envelope code service_unavailable')
      t.ok(a.headers['retry-after'], `and Retry-After (${a.headers['retry-after']})`)
    })

    await sleep(Math.max(0, 1500 - (Date.now() - downAt))) // the outage lasts about 1.5 s
    await pg.start()
    const upAt = Date.now()
    await until('/ready 200 again', async () => (await http(api.base, 'GET', '/ready', { timeoutMs: 3000 })).status === 200, 20000, 100)
    await until('a posting acknowledged after the restart', () => [...answers.values()].some((e) => e.at > upAt && ok(e.a)), 20000)
    t.pass(`the same process recovered by itself: ready and posting ${Date.now() - upAt} ms after Postgres was back`)
    const after = acked
    await until('30 more postings acknowledged', () => acked >= after + 30, 20000)
  } finally {
    stop = true
    await loading
  }
  t.ok(api.proc.alive(), 'the API process never stopped')

  const all = [...answers.values()]
  const refused = all.filter((e) => !ok(e.a))
  const other = refused.filter((e) => !(e.a.status === 503 && e.a.body?.error?.code === 'service_unavailable'))
  t.ok(refused.length > 0, `${refused.length} requests refused during the outage`)
  t.same(
    other.map((e) => ({ key: e.p.key, status: e.a.status, code: e.a.body?.error?.code, request: e.a.body?.error?.request_id, error: e.a.error })),
    [],
    'every refused request answered 503 service_unavailable (no 500, no dropped connection)',
  )
  if (other.length) t.comment(`the API's log:\n${api.proc.output()}`)
  const r = await retryAndCheck(t, api.base, tenant, admin, new Map(all.map((e) => [e.p.key, e])))
  t.comment(`Postgres restart: ${all.length} postings, 1 outage, ${r.acked} acknowledged (lost: 0), ${r.unacked} refused with 503 and retried, other 5xx: ${other.length}`)
})

// A number block is handed out as soon as it is reserved, so the reservation must be durable by
// then: a crash that loses it would make the next reservation (this process's, or another's after
// the restart) hand the same numbers out again. The load above once hit exactly that
// (`invoices_number_tenant_id_key`, a 500). Here the window is held open: the WAL writer wakes
// every 10 s only, so an asynchronous commit stays in memory until the immediate shutdown.
t.test('Postgres crash right after a number block was reserved: the block is not handed out again', async (t) => {
  const pg = await privatePostgres(t, ['wal_writer_delay = 10000ms'])
  const url = pg.url('receivables')
  await migrate(url, APP_PASSWORD)
  const admin = adminDb(t, url)
  const tenantId = randomUUID()
  await admin.raw(`insert into tenants (tenant_id, name, base_currency) values (?, 'Numbered', 'usd')`, [tenantId])
  const appUrl = new URL(url)
  appUrl.username = APP_ROLE
  appUrl.password = APP_PASSWORD
  const db = createDb(appUrl.toString(), { poolMax: 2 })
  t.teardown(async () => {
    await closeNumbering()
    await db.destroy()
  })
  const ctx = { tenantId } as RequestContext
  const first = await db.transaction((trx) => nextNumber(trx, ctx, 'crash_test', 'CT'))
  t.equal(first, 'CT-000001')
  await pg.stop()
  await pg.start()
  // The admin pool's connections died with the server: the first queries may fail until it is back.
  const rows = await until('Postgres back', () => admin.raw(`select next_value from document_sequences where tenant_id = ? and kind = 'crash_test'`, [tenantId]).then((r) => r.rows as { next_value: string }[], () => null), 20000, 100)
  t.same(rows.map((r) => Number(r.next_value)), [2], 'the reservation of CT-000001 survived the crash: the next block starts after it')
})

// ---- 3. Redis restarted under load --------------------------------------------------------------

t.test('Redis killed and restarted empty under load: every event delivered once, ledger intact', async (t) => {
  const redis = await privateRedis(t)
  const database = await createTestDatabase()
  t.teardown(() => database.drop())
  const receiver = await hookReceiver(t)
  const env = serviceEnv(database.url, { PORT: String(await freePort()), REDIS_URL: redis.url, ...pooledEnv(database.url) })
  const api = await startApi(t, env)
  const tenant = await provision(api.base, 6)
  const admin = adminDb(t, database.url)
  const endpoint = await http(api.base, 'POST', '/v1/webhook-endpoints', { key: tenant.key, body: { url: receiver.url, events: ['*'] } })
  t.equal(endpoint.status, 201, 'webhook endpoint on the test receiver')
  const worker = startWorkerProcess(t, env) // after the endpoint: every event of the tenant is owed a delivery

  const TOTAL = 150
  const answers = new Map<string, { p: Posting; a: HttpAnswer }>()
  let n = 0
  let acked = 0
  const loading = load(
    8,
    () => (n < TOTAL ? posting('redis', n++, tenant.customers) : null),
    (p) => send(api.base, tenant.key, p),
    (p, a) => {
      answers.set(p.key, { p, a })
      if (ok(a)) acked++
    },
  )
  await until('50 postings acknowledged before the fault', () => acked >= 50)
  await redis.kill9()
  await sleep(1000)
  await redis.start()
  await loading
  t.ok(worker.alive(), 'the worker survived the Redis outage')

  const all = [...answers.values()]
  const failed = all.filter((e) => !ok(e.a))
  t.same(failed.map((e) => ({ key: e.p.key, status: e.a.status, error: e.a.error })), [], 'postings do not need Redis: every one acknowledged')
  const eventCount = async () => Number((await admin('events').count({ n: '*' }).first())!.n)
  await until(
    'every event delivered',
    async () => {
      if (!worker.alive()) throw new Error(`the worker exited:\n${worker.output()}`)
      return receiver.answered2xx().size === (await eventCount())
    },
    45000,
    200,
  )
  const events = await eventCount()
  const duplicates = [...receiver.answered2xx().entries()].filter(([, c]) => c > 1)
  t.equal(duplicates.length, 0, `each of ${events} events answered 2xx exactly once (duplicates: ${duplicates.length})`)
  // An answer is recorded after the receiver sent it (the worker's recorder writes outcomes as they
  // arrive, in batches): under load the last rows can trail the answers by a moment.
  const deliveryStates = async () => (await admin.raw(`select status, count(*)::int as n from webhook_deliveries group by status order by status`)).rows
  await until('every delivery recorded', async () => JSON.stringify(await deliveryStates()) === JSON.stringify([{ status: 'delivered', n: events }]), 30000, 200).catch(() => {})
  t.same(await deliveryStates(), [{ status: 'delivered', n: events }], 'every delivery recorded as delivered')
  t.same([...receiver.answered2xx().entries()].filter(([, c]) => c > 1), [], 'and none was sent again while its record trailed')
  const { rows: missing } = await admin.raw(`select id from events e where not exists (select 1 from webhook_deliveries d where d.event_id = e.id)`)
  t.same(missing, [], 'no event without its delivery')
  t.same(await checkLedger(admin as never, tenant.uuid), [], 'ledger invariants hold')
  t.comment(`Redis restart: ${TOTAL} postings, 1 kill -9 of Redis (all queued jobs lost), ${events} events delivered, duplicates: ${duplicates.length}, ${receiver.hooks.length} sends`)
})

// ---- 4. a worker killed in the middle of a webhook batch ----------------------------------------

t.test('worker killed in the middle of a webhook batch: nothing answered 2xx is sent again', async (t) => {
  const database = await createTestDatabase()
  t.teardown(() => database.drop())
  const ANSWERED = 24 // answered at once; the sends after them are held open
  const receiver = await hookReceiver(t, (n) => n >= ANSWERED)
  const env = serviceEnv(database.url, { PORT: String(await freePort()), ...pooledEnv(database.url) })
  const api = await startApi(t, env)
  const tenant = await provision(api.base, 4)
  const admin = adminDb(t, database.url)
  const endpoint = await http(api.base, 'POST', '/v1/webhook-endpoints', { key: tenant.key, body: { url: receiver.url, events: ['*'] } })
  t.equal(endpoint.status, 201, 'webhook endpoint on the test receiver')

  // 64 events (one batch job of deliveries, sent 16 at a time), written while no worker runs.
  const eventCount = async () => Number((await admin('events').count({ n: '*' }).first())!.n)
  for (let i = 0; (await eventCount()) < 64; i++) {
    const p = posting('batch', i * 3, tenant.customers) // invoices only
    const a = await send(api.base, tenant.key, p)
    if (a.status !== 201) throw new Error(`invoice: ${a.status} ${JSON.stringify(a.body)}`)
  }
  const events = await eventCount()
  t.equal(events, 64, '64 events wait')

  // A long send timeout: the held sends are still open when the worker is killed.
  const first = startWorkerProcess(t, env, { timeoutMs: 20000 })
  await until('24 answered and 16 held open', () => receiver.hooks.filter((h) => h.answered).length >= ANSWERED && receiver.held() >= 16, 30000)
  const answeredBefore = new Set(receiver.hooks.filter((h) => h.answered).map((h) => h.id))
  const heldBefore = new Set(receiver.hooks.filter((h) => !h.answered).map((h) => h.id))
  // The answers reach the database as they arrive (at most a flush later), not when the batch ends.
  const delivered = async () => Number((await admin('webhook_deliveries').where({ status: 'delivered' }).count({ n: '*' }).first())!.n)
  const recorded = await until('the answered sends recorded', async () => ((await delivered()) >= ANSWERED ? await delivered() : null), 5000).catch(() => delivered())
  t.equal(recorded, ANSWERED, `${recorded} of ${ANSWERED} answered sends recorded while the batch is still running`)
  await first.kill9()
  receiver.release()

  // The held sends' lease (rounds × timeout + 1 minute) would expire in a few minutes: fast-forward
  // the clock for them by ending it now, as the superuser (the only change made behind the service).
  await admin('webhook_deliveries').where({ status: 'pending' }).where('locked_until', '>', admin.fn.now()).update({ locked_until: admin.raw(`now() - interval '1 second'`) })
  const second = startWorkerProcess(t, env)
  await until(
    'every event delivered',
    async () => {
      if (!second.alive()) throw new Error(`the worker exited:\n${second.output()}`)
      return (await delivered()) === events && receiver.answered2xx().size === events
    },
    30000,
    100,
  )
  const sends = new Map<string, number>()
  for (const h of receiver.hooks) sends.set(h.id, (sends.get(h.id) ?? 0) + 1)
  const resent = [...answeredBefore].filter((id) => sends.get(id)! > 1)
  t.same(resent, [], `no event answered 2xx before the kill was sent again (${answeredBefore.size} answered)`)
  const duplicates = [...receiver.answered2xx().entries()].filter(([, c]) => c > 1)
  t.equal(duplicates.length, 0, 'no event answered 2xx twice')
  t.ok([...heldBefore].every((id) => receiver.answered2xx().get(id) === 1), `the ${heldBefore.size} held sends were sent again, same webhook-id, and answered once`)
  t.same(await checkLedger(admin as never, tenant.uuid), [], 'ledger invariants hold')
  t.comment(`worker kill: ${events} deliveries, 1 kill -9 with ${heldBefore.size} sends held open, ${answeredBefore.size} answered before (resent: ${resent.length}), duplicates: ${duplicates.length}`)
})

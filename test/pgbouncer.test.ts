import pg from 'pg'
import t from 'tap'
import { appDatabaseUrl, listenDatabaseUrl, loadConfig } from '../core/kernel/config'
import { createDb, prepared, usesNamedStatements } from '../core/kernel/db/knex'
import { withTenant } from '../core/kernel/db/tenant'
import { PGBOUNCER_URL, setupTestEnv, VIA_PGBOUNCER, viaPgBouncer } from './helpers/app'
import { balance, customer, intact } from './helpers/ledger'

/**
 * DB_PREPARED_STATEMENTS=false: `prepared()` sends unnamed statements, so the service works behind
 * PgBouncer in transaction pooling mode (1.18 keeps no named statements across server connections).
 */

const NAMED = "select count(*)::int as n from pg_prepared_statements where name like 'q\\_%'"

/** Whether the test PgBouncer (scripts/ensure-pgbouncer.sh) answers. */
async function pgBouncerUp(): Promise<boolean> {
  const c = new pg.Client({ connectionString: viaPgBouncer('postgres://postgres@127.0.0.1:5432/postgres'), connectionTimeoutMillis: 2000 })
  try {
    await c.connect()
    await c.query('select 1')
    return true
  } catch {
    return false
  } finally {
    await c.end().catch(() => undefined)
  }
}

t.test('configuration', async (t) => {
  t.equal(loadConfig({}, {}).DB_PREPARED_STATEMENTS, true, 'named statements by default')
  t.equal(loadConfig({}, { DB_PREPARED_STATEMENTS: 'false' }).DB_PREPARED_STATEMENTS, false)
  t.equal(loadConfig({}, { DB_PREPARED_STATEMENTS: 'true' }).DB_PREPARED_STATEMENTS, true)
  t.throws(() => loadConfig({}, { DB_PREPARED_STATEMENTS: 'sometimes' }), 'a bad value stops the process')
  const direct = loadConfig({}, {})
  t.equal(listenDatabaseUrl(direct), appDatabaseUrl(direct), 'LISTEN on the runtime URL by default')
  t.equal(listenDatabaseUrl(loadConfig({}, { LISTEN_DATABASE_URL: 'none' })), null, '`none`: sweep only')
  t.equal(listenDatabaseUrl(loadConfig({}, { LISTEN_DATABASE_URL: 'postgres://recv_app@db:5432/x' })), 'postgres://recv_app@db:5432/x')
  t.throws(() => loadConfig({}, { LISTEN_DATABASE_URL: 'db:5432' }))
})

t.test('the setting decides whether postings leave named statements on the connection', async (t) => {
  for (const named of [true, false]) {
    await t.test(`DB_PREPARED_STATEMENTS=${named}`, async (t) => {
      // Direct to Postgres, one pooled connection, so pg_prepared_statements is that connection's.
      const env = await setupTestEnv(t, { DB_PREPARED_STATEMENTS: named, DB_POOL_MAX: 1 }, { viaPgBouncer: false })
      t.equal(usesNamedStatements(env.db), named)
      const tenant = await env.tenant()
      const api = env.api(tenant.key)
      const cus = await customer(api)
      for (let i = 0; i < 3; i++) {
        t.equal((await api.post('/v1/invoices', { customer: cus, lines: [{ description: 'Goods', quantity: 1, unit_amount: 1000 }] })).statusCode, 201)
        t.equal((await api.post('/v1/payments', { customer: cus, amount: 400, method: 'cash' })).statusCode, 201)
      }
      t.equal((await balance(api, cus)).current_balance, 1800)
      const { n } = (await env.db.raw(NAMED)).rows[0]
      if (named) t.ok(n > 0, `named statements were prepared (${n})`)
      else t.equal(n, 0, 'no named statement was prepared')
    })
  }
})

t.test('through PgBouncer in transaction mode', async (t) => {
  const up = await pgBouncerUp()
  if (!up && VIA_PGBOUNCER) throw new Error(`TEST_VIA_PGBOUNCER=1 but no PgBouncer answers at ${PGBOUNCER_URL}`)
  const skip = up ? false : `no PgBouncer at ${PGBOUNCER_URL} (bash scripts/ensure-pgbouncer.sh starts one; .ci/run does)`

  await t.test('named statements break, unnamed ones do not', { skip }, async (t) => {
    const env = await setupTestEnv(t, { DB_POOL_MAX: 2 }, { viaPgBouncer: true })
    const url = appDatabaseUrl(env.config)
    t.match(url, new URL(PGBOUNCER_URL).port, 'the runtime URL points at PgBouncer')
    const sql = 'select ?::int + 1 as n'
    for (const named of [true, false]) {
      const a = createDb(url, { poolMax: 1, preparedStatements: named })
      const b = createDb(url, { poolMax: 1, preparedStatements: named })
      t.teardown(() => Promise.all([a.destroy(), b.destroy()]))
      t.equal((await prepared(a, sql, [1])).rows[0].n, 2)
      // `b` holds the server connection `a` prepared on, so `a`'s next statement gets another one.
      const again = await b.transaction(async (trx) => {
        await trx.raw('select 1')
        return prepared(a, sql, [2]).then(
          (r) => r.rows[0].n as number,
          (err: Error) => err,
        )
      })
      if (named) t.match(again, { message: /prepared statement "q_[0-9a-f]+" does not exist/ }, 'a named statement is gone on the next server connection')
      else t.equal(again, 3, 'an unnamed statement runs on any server connection')
    }
  })

  await t.test('a burst of postings with DB_PREPARED_STATEMENTS=false', { skip }, async (t) => {
    const env = await setupTestEnv(t, { DB_POOL_MAX: 12 }, { viaPgBouncer: true })
    t.equal(env.config.DB_PREPARED_STATEMENTS, false)
    const tenant = await env.tenant()
    const api = env.api(tenant.key)
    const customers = await Promise.all(Array.from({ length: 6 }, () => customer(api)))
    const posts = []
    for (let i = 0; i < 60; i++) {
      const cus = customers[i % customers.length]
      posts.push(
        Math.floor(i / customers.length) % 3 === 2
          ? api.post('/v1/payments', { customer: cus, amount: 500, method: 'cash' })
          : api.post('/v1/invoices', { customer: cus, lines: [{ description: 'Goods', quantity: 1, unit_amount: 1000 }] }),
      )
    }
    const statuses = (await Promise.all(posts)).map((r) => (r.statusCode === 201 ? 201 : `${r.statusCode} ${r.raw}`))
    t.same(statuses, Array(60).fill(201), 'every posting succeeded')
    for (const cus of customers) t.equal((await balance(api, cus)).current_balance, 7 * 1000 - 3 * 500)
    await intact(t, env, tenant.uuid)
    // Tenant context stays transaction-local through the pooler too.
    const probe = await withTenant(env.db, tenant.uuid, (trx) => trx.raw("select current_setting('app.tenant_id', true) as v"))
    t.equal(probe.rows[0].v, tenant.uuid)
    t.notOk((await env.db.raw("select current_setting('app.tenant_id', true) as v")).rows[0].v)
  })
})

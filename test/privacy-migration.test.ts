import { randomBytes, randomUUID } from 'node:crypto'
import t from 'tap'
import pg from 'pg'
import { bootstrapRoles, ensureDatabase, migrate, MIGRATIONS_DIR } from '../core/kernel/db/migrate'
import { OWNER_ROLE } from '../core/kernel/db/migration-helpers'
import { createDb } from '../core/kernel/db/knex'
import { verifyAuditChain } from '../core/audit/service'
import { openValues } from '../core/privacy/sealing'
import { ADMIN_URL, APP_PASSWORD } from './helpers/db'

const MINE = '20261220000010_customer_privacy.ts'

/**
 * The privacy migration on a database that already holds personal data in clear: audit snapshots
 * (chained by the insert trigger), event payloads, a stored idempotent response. After it the
 * stores hold no personal data in clear, the audit chain verifies (re-linked), and reads open it.
 */
t.test('the privacy migration seals existing rows and keeps the audit chain verifiable', async (t) => {
  const name = `recv_test_mig_${randomBytes(5).toString('hex')}`
  const u = new URL(ADMIN_URL)
  u.pathname = `/${name}`
  const url = u.toString()
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  t.teardown(async () => {
    await admin.query(`drop database if exists ${name} with (force)`)
    await admin.end()
  })

  await ensureDatabase(url)
  await bootstrapRoles(url, APP_PASSWORD)
  const owner = createDb(url, { poolMax: 1, afterCreateSql: `set role ${OWNER_ROLE}` })
  t.teardown(() => owner.destroy())
  // Every migration before this one.
  const opts = { directory: MIGRATIONS_DIR, loadExtensions: ['.ts', '.js'] }
  for (;;) {
    const [, pending] = await owner.migrate.list(opts)
    const next = (pending as { file: string }[])[0]?.file
    if (!next || next === MINE) break
    await owner.migrate.up(opts)
  }
  t.notOk(await owner.schema.hasTable('customer_keys'), 'stopped before the privacy migration')

  const tenantId = randomUUID()
  const cus = 'cus_01migrationtest000000000001'
  const email = 'migrated.person@privacy.example'
  const snapshot = (v: number, phone: string) => ({ id: cus, object: 'customer', name: 'Migrated Person', email, phone, tax_id: 'TAX-MIG-1', version: v, currency: 'usd' })
  await owner.transaction(async (trx) => {
    await trx.raw(`select set_config('app.tenant_id', ?, true)`, [tenantId])
    await trx('tenants').insert({ tenant_id: tenantId, name: 'Old', base_currency: 'usd' })
    await trx('customers').insert({ tenant_id: tenantId, id: cus, name: 'Migrated Person', email, phone: '+1555', tax_id: 'TAX-MIG-1', currency: 'usd' })
    const audit = (i: number, entity: string, before: unknown, after: unknown) => ({
      tenant_id: tenantId, seq: 0, lane: i % 2, lane_seq: 0, id: `aud_mig${i}`, actor: 'key_x', action: 'customer.updated', entity_type: entity === cus ? 'customer' : 'invoice',
      entity_id: entity, before: before === null ? null : JSON.stringify(before), after: JSON.stringify(after), prev_hash: '', hash: '',
    })
    // Rows one at a time (the chain trigger links each to its lane's tail), mixed with rows without PII.
    await trx('audit_log').insert(audit(1, cus, null, snapshot(1, '+1555')))
    await trx('audit_log').insert(audit(2, 'inv_1', null, { number: 'INV-1', customer: cus, total: 100 }))
    await trx('audit_log').insert(audit(3, cus, snapshot(1, '+1555'), snapshot(2, '+1666')))
    await trx('audit_log').insert(audit(4, 'inv_2', null, { number: 'INV-2', customer: cus, total: 200 }))
    await trx('audit_log').insert(audit(5, cus, snapshot(2, '+1666'), snapshot(3, '+1777')))
    await trx('events').insert({ tenant_id: tenantId, id: 'evt_mig1', type: 'customer.created', data: JSON.stringify({ object: snapshot(1, '+1555') }), customer_id: cus })
    await trx('events').insert({ tenant_id: tenantId, id: 'evt_mig2', type: 'invoice.created', data: JSON.stringify({ object: { id: 'inv_1', object: 'invoice', customer: cus } }), customer_id: cus })
    await trx('idempotency_keys').insert({
      tenant_id: tenantId, key: 'k1', request_hash: 'h', method: 'POST', path: '/v1/customers', status_code: 201,
      response_body: JSON.stringify({ ...snapshot(1, '+1555'), possible_duplicates: [{ id: cus, name: 'Migrated Person', matched_on: ['email'] }] }), expires_at: new Date(Date.now() + 3600e3),
    })
  })

  const applied = await migrate(url, APP_PASSWORD)
  // The privacy migration, then the ones after it (the chain check below reads the archive schema of a later one).
  t.equal(applied[0], MINE, 'the privacy migration ran first')

  await owner.transaction(async (trx) => {
    await trx.raw(`select set_config('app.tenant_id', ?, true)`, [tenantId])
    t.same(await verifyAuditChain(trx, tenantId), { ok: true, checked: 5, first_invalid_seq: null, problem: null }, 'the chain verifies after, re-linked')
    const stores = await trx.raw(
      `select (select count(*) from audit_log where (before::text || after::text) like '%' || :e || '%')::int as audit,
              (select count(*) from events where data::text like '%' || :e || '%')::int as events,
              (select count(*) from idempotency_keys where response_body::text like '%Migrated Person%')::int as idem,
              (select count(*) from audit_log where after::text like '%pii:v1:%')::int as sealed_audit`,
      { e: email },
    )
    t.same(stores.rows[0], { audit: 0, events: 0, idem: 0, sealed_audit: 3 }, 'no personal data in clear in the append-only stores')
    t.equal((await trx('customer_keys').where({ tenant_id: tenantId })).length, 1, 'one data key')

    const audit = await trx('audit_log').where({ tenant_id: tenantId }).orderBy('seq').select('before', 'after')
    const opened = await openValues(trx, tenantId, audit.flatMap((r) => [r.before, r.after]))
    t.same(opened[9], snapshot(3, '+1777'), 'audit snapshots open to what they were')
    t.same(opened[8], snapshot(2, '+1666'))
    t.same(opened[7], { number: 'INV-2', customer: cus, total: 200 }, 'rows without personal data untouched')
    const event = await trx('events').where({ tenant_id: tenantId, id: 'evt_mig1' }).first('data')
    t.same((await openValues(trx, tenantId, [event.data.object]))[0], snapshot(1, '+1555'), 'event payloads open')
    const idem = await trx('idempotency_keys').where({ tenant_id: tenantId, key: 'k1' }).first('response_body')
    t.match((await openValues(trx, tenantId, [idem.response_body]))[0], { email, possible_duplicates: [{ name: 'Migrated Person' }] }, 'stored responses open')
  })
})

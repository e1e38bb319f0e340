import t from 'tap'
import { setupTestEnv, TestEnv } from './helpers/app'
import { withTenant } from '../core/kernel/db/tenant'

/** The newest audit row of an entity, with the id of the transaction that wrote it. */
async function lastAudit(env: TestEnv, entityId: string) {
  const { rows } = await env.admin.raw(`select *, xmin::text as txid from audit_log where entity_id = ? order by seq desc limit 1`, [entityId])
  return rows[0]
}

async function auditCount(env: TestEnv, entityId: string): Promise<number> {
  return Number((await env.admin('audit_log').where({ entity_id: entityId }).count('* as n'))[0].n)
}

/** Id of the transaction that last wrote the customer row. */
async function customerTxid(env: TestEnv, id: string): Promise<string> {
  return (await env.admin.raw(`select xmin::text as txid from customers where id = ?`, [id])).rows[0].txid
}

t.test('audit log', async (t) => {
  const env = await setupTestEnv(t)

  await t.test('every customer change writes one audit row in its own transaction', async (t) => {
    const tenant = await env.tenant()
    const accountant = await env.key(tenant.key, 'accountant')
    const compliance = await env.key(tenant.key, 'compliance')
    const admin = await env.key(tenant.key, 'admin') // only admin deletes a customer
    const ua = { 'user-agent': 'audit-test/1.0' }

    const created = await env.api(accountant.secret).post('/v1/customers', { name: 'Audited', email: 'a@example.com' }, ua)
    t.equal(created.statusCode, 201)
    const id = created.body.id
    let row = await lastAudit(env, id)
    t.match(row, {
      actor: accountant.id,
      action: 'customer.created',
      entity_type: 'customer',
      entity_id: id,
      before: null,
      // Stored sealed under the customer's data key (core/privacy/sealing.ts); the API opens it.
      after: { id, name: /^pii:v1:/, email: /^pii:v1:/, version: 1 },
      reason: null,
      request_id: created.headers['request-id'],
      user_agent: 'audit-test/1.0',
      ip: '127.0.0.1',
    })
    t.equal(row.txid, await customerTxid(env, id), 'same transaction as the customer row')
    const balanceTx = (await env.admin.raw(`select xmin::text as txid from customer_balances where customer_id = ?`, [id])).rows[0].txid
    const eventTx = (await env.admin.raw(`select xmin::text as txid from events where data->'object'->>'id' = ? and type = 'customer.created'`, [id])).rows[0].txid
    t.equal(balanceTx, row.txid, 'balance row in the same transaction')
    t.equal(eventTx, row.txid, 'event in the same transaction')
    t.equal(await auditCount(env, id), 1)

    const patched = await env.api(accountant.secret).patch(`/v1/customers/${id}`, { name: 'Audited 2' }, { 'if-match': '"1"' })
    t.equal(patched.statusCode, 200)
    row = await lastAudit(env, id)
    t.match(row, {
      actor: accountant.id,
      action: 'customer.updated',
      before: { name: /^pii:v1:/, version: 1 },
      after: { name: /^pii:v1:/, version: 2 },
      request_id: patched.headers['request-id'],
    })
    t.equal(row.txid, await customerTxid(env, id))
    t.equal(await auditCount(env, id), 2)

    // Refused changes leave no audit row.
    t.equal((await env.api(accountant.secret).patch(`/v1/customers/${id}`, { name: 'x' }, { 'if-match': '"1"' })).statusCode, 412)
    await env.admin('customer_balances').where({ customer_id: id }).update({ pending_balance: 1 })
    t.equal((await env.api(admin.secret).delete(`/v1/customers/${id}`, { reason: 'x' })).statusCode, 409)
    await env.admin('customer_balances').where({ customer_id: id }).update({ pending_balance: 0 })
    t.equal(await auditCount(env, id), 2)

    const deleted = await env.api(admin.secret).delete(`/v1/customers/${id}`, { reason: 'duplicate of cus_other' })
    t.equal(deleted.statusCode, 200)
    row = await lastAudit(env, id)
    t.match(row, {
      actor: admin.id,
      action: 'customer.deleted',
      before: { status: 'active', deleted: false },
      after: { status: 'deleted', deleted: true, delete_reason: 'duplicate of cus_other' },
      reason: 'duplicate of cus_other',
      request_id: deleted.headers['request-id'],
    })
    t.equal(row.txid, await customerTxid(env, id))

    const restored = await env.api(compliance.secret).post(`/v1/customers/${id}/restore`, { reason: 'deleted by mistake' })
    t.equal(restored.statusCode, 200)
    row = await lastAudit(env, id)
    t.match(row, {
      actor: compliance.id,
      action: 'customer.restored',
      before: { status: 'deleted' },
      after: { status: 'active', deleted: false },
      reason: 'deleted by mistake',
      request_id: restored.headers['request-id'],
    })
    t.equal(row.txid, await customerTxid(env, id))
    t.equal(await auditCount(env, id), 4, 'one row per change')
  })

  await t.test('audit rows are append-only', async (t) => {
    const tenant = await env.tenant()
    await env.api(tenant.key).post('/v1/customers', { name: 'Immutable' })
    const refused = { code: '42501' }

    // The runtime role has no UPDATE/DELETE/TRUNCATE grant on audit_log.
    await t.rejects(withTenant(env.db, tenant.uuid, (trx) => trx('audit_log').where({ tenant_id: tenant.uuid }).update({ reason: 'rewritten' })), refused)
    await t.rejects(withTenant(env.db, tenant.uuid, (trx) => trx('audit_log').where({ tenant_id: tenant.uuid }).delete()), refused)
    await t.rejects(withTenant(env.db, tenant.uuid, (trx) => trx.raw('truncate audit_log')), refused)

    // Even a superuser is stopped by the trigger.
    await t.rejects(env.admin('audit_log').where({ tenant_id: tenant.uuid }).update({ reason: 'rewritten' }), { code: '42501', message: /append-only/ })
    await t.rejects(env.admin('audit_log').where({ tenant_id: tenant.uuid }).delete(), { code: '42501', message: /append-only/ })
    await t.rejects(env.admin.raw('truncate audit_log'), { code: '42501' })
    t.equal(Number((await env.admin('audit_log').where({ tenant_id: tenant.uuid, reason: 'rewritten' }).count('* as n'))[0].n), 0)
  })

  await t.test('verify: a clean chain passes; a tampered row is pinpointed', async (t) => {
    const tenant = await env.tenant()
    const other = await env.tenant()
    const api = env.api(tenant.key)
    const auditor = await env.key(tenant.key, 'auditor')
    for (let i = 0; i < 4; i++) {
      const c = await api.post('/v1/customers', { name: `Chain ${i}` })
      await api.patch(`/v1/customers/${c.body.id}`, { name: `Chain ${i}b` })
    }
    const total = Number((await env.admin('audit_log').where({ tenant_id: tenant.uuid }).count('* as n'))[0].n)
    const clean = await env.api(auditor.secret).get('/v1/audit-log/verify')
    t.equal(clean.statusCode, 200, clean.raw)
    t.same(clean.body, { ok: true, checked: total, first_invalid_seq: null, problem: null })

    const victim = await env.admin('audit_log').where({ tenant_id: tenant.uuid, action: 'customer.updated' }).orderBy('seq').first()
    await env.admin.raw('alter table audit_log disable trigger audit_log_append_only')
    try {
      await env.admin('audit_log')
        .where({ tenant_id: tenant.uuid, seq: victim.seq })
        .update({ after: JSON.stringify({ ...victim.after, name: 'Forged' }) })
    } finally {
      await env.admin.raw('alter table audit_log enable trigger audit_log_append_only')
    }
    const tampered = await env.api(auditor.secret).get('/v1/audit-log/verify')
    t.equal(tampered.statusCode, 200)
    t.same(tampered.body, { ok: false, checked: total, first_invalid_seq: Number(victim.seq), problem: 'hash_mismatch' })

    const otherChain = await env.api(other.key).get('/v1/audit-log/verify')
    t.equal(otherChain.body.ok, true, "another tenant's chain is unaffected")

    const cashier = await env.key(tenant.key, 'cashier')
    t.equal((await env.api(cashier.secret).get('/v1/audit-log/verify')).statusCode, 403)
  })

  await t.test('GET /v1/audit-log: filters, pagination, masking, tenant isolation', async (t) => {
    const tenant = await env.tenant()
    const other = await env.tenant()
    const admin = env.api(tenant.key)
    const accountant = await env.key(tenant.key, 'accountant')
    const auditor = await env.key(tenant.key, 'auditor')
    const compliance = await env.key(tenant.key, 'compliance')
    const a = await admin.post('/v1/customers', { name: 'A', email: 'alice@example.com', phone: '+15550123' })
    const b = await env.api(accountant.secret).post('/v1/customers', { name: 'B' })
    await env.api(accountant.secret).patch(`/v1/customers/${a.body.id}`, { name: 'A2' })
    await admin.delete(`/v1/customers/${b.body.id}`, { reason: 'test' })
    await env.api(other.key).post('/v1/customers', { name: 'Other tenant' })

    const list = async (qs: string, key = auditor.secret) => {
      const res = await env.api(key).get(`/v1/audit-log${qs}`)
      t.equal(res.statusCode, 200, res.raw)
      return res.body
    }
    const all = await list('?limit=100')
    t.equal(all.has_more, false)
    const seqs = all.data.map((e: { seq: number }) => e.seq)
    t.same(seqs, [...seqs].sort((x: number, y: number) => y - x), 'newest first')
    // Each lane of this tenant's chain is gap-free and starts at 1.
    const lanes = new Map<number, number[]>()
    for (const e of all.data as { lane: number; lane_seq: number }[]) lanes.set(e.lane, [...(lanes.get(e.lane) ?? []), e.lane_seq])
    for (const [, positions] of lanes) t.same(positions, Array.from({ length: positions.length }, (_, i) => positions.length - i), "only this tenant's chain, gap-free")
    t.notOk(all.data.some((e: { entity: string; after: { name?: string } }) => e.after?.name === 'Other tenant'))
    t.match(all.data[0], {
      object: 'audit_log_entry',
      action: 'customer.deleted',
      entity_type: 'customer',
      entity: b.body.id,
      actor: /^key_/, // the tenant's admin key
      reason: 'test',
    })
    t.match(all.data[0].id, /^aud_/)
    t.match(all.data[0].hash, /^[0-9a-f]{64}$/)
    const previousInLane = all.data.find((e: { lane: number; lane_seq: number }) => e.lane === all.data[0].lane && e.lane_seq === all.data[0].lane_seq - 1)
    t.equal(all.data[0].prev_hash, previousInLane?.hash ?? '', 'linked to the previous entry of its lane')

    const entityA = await list(`?entity=${a.body.id}`)
    t.same(entityA.data.map((e: { action: string }) => e.action), ['customer.updated', 'customer.created'])
    const byActor = await list(`?actor=${accountant.id}`)
    t.same(byActor.data.map((e: { action: string; entity: string }) => [e.action, e.entity]), [
      ['customer.updated', a.body.id],
      ['customer.created', b.body.id],
    ])
    t.same((await list('?action=customer.deleted')).data.map((e: { entity: string }) => e.entity), [b.body.id])
    t.same((await list('?entity_type=api_key')).data.map((e: { action: string }) => e.action), ['api_key.created', 'api_key.created', 'api_key.created'])
    t.same((await list('?entity=cus_00000000000000000000000000')).data, [])

    // Page through two at a time.
    const paged: number[] = []
    let cursor: string | undefined
    for (;;) {
      const res = await list(`?limit=2${cursor ? `&starting_after=${cursor}` : ''}`)
      paged.push(...res.data.map((e: { seq: number }) => e.seq))
      if (!res.has_more) break
      cursor = res.data.at(-1).id
    }
    t.same(paged, seqs, 'pages cover the log once, in order')
    const filteredPage = await list(`?entity=${a.body.id}&limit=1`)
    t.equal(filteredPage.has_more, true)
    const next = await list(`?entity=${a.body.id}&limit=1&starting_after=${filteredPage.data[0].id}`)
    t.same(next.data.map((e: { action: string }) => e.action), ['customer.created'])
    t.equal(next.has_more, false)

    for (const qs of ['?starting_after=aud_00000000000000000000000000', '?starting_after=cus_1', '?limit=0', '?limit=1000', '?foo=1', `?entity=${'x'.repeat(201)}`]) {
      const res = await env.api(auditor.secret).get(`/v1/audit-log${qs}`)
      t.equal(res.statusCode, 400, qs)
    }
    const foreignCursor = (await env.api(other.key).get('/v1/audit-log')).body.data[0].id
    t.equal((await env.api(auditor.secret).get(`/v1/audit-log?starting_after=${foreignCursor}`)).body.error?.code, 'invalid_cursor')

    // The auditor may not view personal data: it is absent from customer snapshots; compliance sees them whole.
    const created = (await list(`?entity=${a.body.id}&action=customer.created`)).data[0]
    t.match(created.after, { name: String })
    for (const f of ['email', 'phone', 'billing_address', 'tax_id']) t.notOk(f in created.after, `${f} absent for the auditor`)
    const createdForCompliance = (await list(`?entity=${a.body.id}&action=customer.created`, compliance.secret)).data[0]
    t.match(createdForCompliance.after, { email: 'alice@example.com', phone: '+15550123' })

    t.equal((await env.api(accountant.secret).get('/v1/audit-log')).statusCode, 403, 'accountants cannot read the audit log')
  })
})

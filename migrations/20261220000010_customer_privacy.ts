import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'
import { sealValues } from '../core/privacy/sealing'

/**
 * Privacy (API.md "Customers: merge, duplicates, privacy", ARCHITECTURE §7 "Anonymization"):
 *
 * - `customer_keys`: one data key per customer, wrapped under the tenant key derived from
 *   DATA_ENCRYPTION_KEY (core/privacy/keys.ts). Destroying a key leaves a tombstone (`wrapped_key`
 *   null, `destroyed_at` set), so no new key is ever made for an anonymized customer.
 * - `customers.anonymized_at`.
 * - Existing rows are sealed like new ones (core/privacy/sealing.ts): audit before/after
 *   snapshots, event payloads and stored idempotent responses that carry a customer's personal data.
 *
 * The audit chain hashes before/after, so sealing old audit rows changes the hashed content: for
 * every lane of a tenant where a row changed, this migration recomputes `prev_hash` and `hash` of
 * that lane's rows from the first changed row on, in `lane_seq` order, with the same
 * `audit_row_hash` the insert trigger and the verifier use. Positions, times and every other column
 * stay as they were, so `GET /v1/audit-log/verify` answers ok afterwards (and the chain proves, from
 * then on, what is stored: sealed values). It runs with the append-only trigger disabled, inside the
 * migration's transaction, per tenant (row-level security applies to the owner too).
 *
 * The sealing uses DATA_ENCRYPTION_KEY of the environment the migration runs in, which must be the
 * one the service runs with.
 */

const PAGE = 500

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table customer_keys (
      tenant_id uuid not null references tenants (tenant_id),
      customer_id text not null,
      wrapped_key bytea check (wrapped_key is null or octet_length(wrapped_key) = 60),
      created_at timestamptz not null default now(),
      destroyed_at timestamptz,
      primary key (tenant_id, customer_id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      check ((wrapped_key is null) = (destroyed_at is not null))
    )`)
  await tenantRls(knex, 'customer_keys')
  await knex.raw(`alter table customers add column anonymized_at timestamptz`)

  // The tenant list, read past row-level security for this one statement (it applies to the owner).
  await knex.raw(`alter table tenants no force row level security`)
  const tenants: { tenant_id: string }[] = await knex('tenants').select('tenant_id').orderBy('tenant_id')
  await knex.raw(`alter table tenants force row level security`)
  for (const { tenant_id: tenantId } of tenants) {
    await knex.raw(`select set_config('app.tenant_id', ?, true), set_config('app.owners', '', true)`, [tenantId])
    await sealAuditLog(knex, tenantId)
    await sealColumn(knex, tenantId, 'events', 'id', 'data', (v) => (v as { object?: unknown })?.object, (v, o) => ({ ...(v as object), object: o }))
    await sealColumn(knex, tenantId, 'idempotency_keys', 'key', 'response_body', (v) => v, (_v, o) => o)
  }
}

const WITH_CUSTOMER = (col: string) => `jsonb_path_exists(coalesce(${col}::jsonb, 'null'::jsonb), '$.** \\? (@.id starts with "cus_")')`

async function sealColumn(
  knex: Knex,
  tenantId: string,
  table: string,
  key: string,
  column: string,
  get: (v: unknown) => unknown,
  set: (v: unknown, sealed: unknown) => unknown,
): Promise<void> {
  let after = ''
  for (;;) {
    const rows: Record<string, unknown>[] = await knex(table)
      .where({ tenant_id: tenantId })
      .where(key, '>', after)
      .whereRaw(WITH_CUSTOMER(column))
      .orderBy(key)
      .limit(PAGE)
      .select(key, column)
    if (!rows.length) return
    after = String(rows[rows.length - 1][key])
    const sealed = await sealValues(knex as Knex.Transaction, tenantId, rows.map((r) => get(r[column])))
    const changed = rows.flatMap((r, i) => (sealed[i] === get(r[column]) ? [] : [{ k: r[key], v: JSON.stringify(set(r[column], sealed[i])) }]))
    if (changed.length) {
      await knex.raw(`update ${table} t set ${column} = x.v::${column === 'data' ? 'json' : 'jsonb'} from json_to_recordset(?::json) as x(k text, v text) where t.tenant_id = ? and t.${key} = x.k`, [
        JSON.stringify(changed),
        tenantId,
      ])
    }
  }
}

async function sealAuditLog(knex: Knex, tenantId: string): Promise<void> {
  const firstChanged = new Map<number, number>() // lane → first changed lane_seq
  let after = 0
  await knex.raw(`alter table audit_log disable trigger user`)
  for (;;) {
    const rows: { seq: number; lane: number; lane_seq: number; before: unknown; after: unknown }[] = await knex('audit_log')
      .where({ tenant_id: tenantId })
      .where('seq', '>', after)
      .whereRaw(`(${WITH_CUSTOMER('before')} or ${WITH_CUSTOMER('after')})`)
      .orderBy('seq')
      .limit(PAGE)
      .select('seq', 'lane', 'lane_seq', 'before', 'after')
    if (!rows.length) break
    after = Number(rows[rows.length - 1].seq)
    const snaps = await sealValues(knex as Knex.Transaction, tenantId, rows.flatMap((r) => [r.before, r.after]))
    const changed = rows.filter((r, i) => snaps[2 * i] !== r.before || snaps[2 * i + 1] !== r.after)
    for (const r of changed) firstChanged.set(r.lane, Math.min(firstChanged.get(r.lane) ?? Infinity, Number(r.lane_seq)))
    const updates = rows.flatMap((r, i) => (changed.includes(r) ? [{ seq: r.seq, b: JSON.stringify(snaps[2 * i]), a: JSON.stringify(snaps[2 * i + 1]) }] : []))
    if (updates.length) {
      await knex.raw(`update audit_log t set before = x.b::jsonb, after = x.a::jsonb from json_to_recordset(?::json) as x(seq bigint, b text, a text) where t.tenant_id = ? and t.seq = x.seq`, [
        JSON.stringify(updates),
        tenantId,
      ])
    }
  }
  // Re-link each changed lane from its first changed row on: prev_hash from the row before it.
  for (const [lane, from] of firstChanged) {
    await knex.raw(
      `do $$
       declare r audit_log; prev text;
       begin
         select hash into prev from audit_log where tenant_id = '${tenantId}'::uuid and lane = ${Number(lane)} and lane_seq = ${Number(from) - 1};
         prev := coalesce(prev, '');
         for r in select * from audit_log where tenant_id = '${tenantId}'::uuid and lane = ${Number(lane)} and lane_seq >= ${Number(from)} order by lane_seq loop
           update audit_log set prev_hash = prev, hash = audit_row_hash(prev, r)
            where tenant_id = r.tenant_id and seq = r.seq
            returning hash into prev;
         end loop;
       end $$`,
    )
  }
  await knex.raw(`alter table audit_log enable trigger user`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: sealed data cannot be unsealed by a rollback; restore from backup instead')
}

import type { Knex } from 'knex'

/**
 * Secondary indexes of the tables that other rows reference lead with their own column, the tenant
 * second, as `invoices_customer_idx (customer_id, tenant_id, id)` always did, so that a foreign-key
 * check (`tenant_id = $1 and id = $2`) can only be served by the referenced table's primary key.
 *
 * Postgres plans each foreign-key check once per connection and keeps the plan while the table's
 * statistics stand still. On a table never analyzed (a new database, a new table before autovacuum
 * comes round; this machine runs with autovacuum off) every index that starts with `tenant_id` costs
 * the same as the primary key, and the first one tried wins: the tenant as index condition, the id
 * as a filter, so each check reads every row of the tenant in that index. Migration 20261227000010
 * fixed it for customers (a 100,000-customer import that had not finished after five minutes took 37
 * s); the same tie decided the checks made for each webhook delivery attempt, notification attempt,
 * communication and statement, credit-note line, refund source, import error, retention
 * anonymization, dispute evidence, credit-limit change and console session. Every query that used
 * these indexes names their leading column by equality, so each serves it as before.
 * `test/foreign-keys.test.ts` checks every foreign key of the schema.
 *
 * `webhook_deliveries_event_idx (tenant_id, event_id)` is dropped: the unique constraint, now led by
 * the event, serves the same lookups, one index entry fewer for each delivery.
 */
const INDEXES: Array<{ name: string; table: string; from: string; to: string; unique?: boolean }> = [
  { name: 'credit_limit_requests_customer_idx', table: 'credit_limit_requests', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'credit_limit_requests_status_idx', table: 'credit_limit_requests', from: 'tenant_id, status, id', to: 'status, tenant_id, id' },
  { name: 'credit_notes_customer_idx', table: 'credit_notes', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'credit_notes_number_idx', table: 'credit_notes', from: 'tenant_id, number', to: 'number, tenant_id', unique: true },
  { name: 'disputes_customer_idx', table: 'disputes', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'notifications_customer_idx', table: 'notifications', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'notifications_status_idx', table: 'notifications', from: 'tenant_id, status, id', to: 'status, tenant_id, id' },
  { name: 'payments_customer_idx', table: 'payments', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'refunds_customer_idx', table: 'refunds', from: 'tenant_id, customer_id, id', to: 'customer_id, tenant_id, id' },
  { name: 'retention_runs_status_idx', table: 'retention_runs', from: 'tenant_id, status, created_at', to: 'status, tenant_id, created_at' },
  { name: 'webhook_deliveries_endpoint_idx', table: 'webhook_deliveries', from: 'tenant_id, endpoint_id, id', to: 'endpoint_id, tenant_id, id' },
]

/** Unique constraints (ON CONFLICT names their columns, in any order). */
const CONSTRAINTS: Array<{ table: string; from: [string, string]; to: [string, string] }> = [
  { table: 'api_keys', from: ['api_keys_tenant_id_secret_hash_key', 'tenant_id, secret_hash'], to: ['api_keys_secret_hash_tenant_id_key', 'secret_hash, tenant_id'] },
  {
    table: 'imports',
    from: ['imports_tenant_id_type_dry_run_sha256_key', 'tenant_id, type, dry_run, sha256'],
    to: ['imports_sha256_tenant_id_type_dry_run_key', 'sha256, tenant_id, type, dry_run'],
  },
  {
    table: 'webhook_deliveries',
    from: ['webhook_deliveries_tenant_id_endpoint_id_event_id_key', 'tenant_id, endpoint_id, event_id'],
    to: ['webhook_deliveries_event_id_tenant_id_endpoint_id_key', 'event_id, tenant_id, endpoint_id'],
  },
]

async function rebuild(knex: Knex, direction: 'from' | 'to'): Promise<void> {
  for (const i of INDEXES) {
    await knex.raw(`drop index ${i.name}`)
    await knex.raw(`create ${i.unique ? 'unique ' : ''}index ${i.name} on ${i.table} (${i[direction]})`)
  }
  const other = direction === 'to' ? 'from' : 'to'
  for (const c of CONSTRAINTS) {
    await knex.raw(`alter table ${c.table} drop constraint ${c[other][0]}`)
    await knex.raw(`alter table ${c.table} add constraint ${c[direction][0]} unique (${c[direction][1]})`)
  }
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`drop index webhook_deliveries_event_idx`)
  await rebuild(knex, 'to')
}

export async function down(knex: Knex): Promise<void> {
  await rebuild(knex, 'from')
  await knex.raw(`create index webhook_deliveries_event_idx on webhook_deliveries (tenant_id, event_id)`)
}

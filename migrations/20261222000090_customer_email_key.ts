import type { Knex } from 'knex'

/**
 * Customers are looked up by email in any case (possible duplicates on create). Under row-level
 * security a qual with a function that is not leakproof, such as `lower(email) = $1`, cannot be an
 * index condition, so the old expression index was only ever scanned by tenant. A stored lower-case
 * column compared with plain text equality (leakproof) is an index condition.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table customers add column email_key text generated always as (lower(email)) stored`)
  await knex.raw(`drop index customers_email_idx`)
  await knex.raw(`create index customers_email_key_idx on customers (tenant_id, email_key) where email_key is not null`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

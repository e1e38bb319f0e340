import type { Knex } from 'knex'

/** Similar names among live customers (GET /v1/customers/duplicates): a trigram index (pg_trgm, created with the roles). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index customers_name_trgm_idx on customers using gin (lower(name) gin_trgm_ops) where deleted_at is null`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

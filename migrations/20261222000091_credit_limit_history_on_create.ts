import type { Knex } from 'knex'

/** The limits a customer is created with are the first entries of its limit history (source `create`). */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table credit_limit_changes drop constraint credit_limit_changes_source_check`)
  await knex.raw(`alter table credit_limit_changes add constraint credit_limit_changes_source_check check (source in ('request', 'patch', 'policy', 'import', 'create'))`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

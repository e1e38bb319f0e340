import type { Knex } from 'knex'

/** Temporary credit-limit increases (ARCHITECTURE §7): a higher limit that lapses after a date. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table customers
      add column temporary_credit_limit bigint check (temporary_credit_limit >= 0),
      add column temporary_credit_limit_expires_on date,
      add constraint customers_temporary_credit_limit_pair
        check ((temporary_credit_limit is null) = (temporary_credit_limit_expires_on is null))`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

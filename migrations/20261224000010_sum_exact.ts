import type { Knex } from 'knex'

/**
 * `sum_exact(bigint) → bigint`: the sum of integer minor units, exact, with a plain bigint state.
 * Postgres' own sum(bigint) keeps a 128-bit state per group and returns numeric: over a million
 * open items grouped per customer and aging bucket (core/reports/open-items.ts), that costs a numeric
 * per customer and bucket, and a third of the aggregation. Overflow raises "bigint out of range"; it
 * never wraps. The sum of no rows is null, as with sum().
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create aggregate sum_exact(bigint) (sfunc = int8pl, stype = bigint, combinefunc = int8pl, parallel = safe)`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop aggregate sum_exact(bigint)`)
}

import type { Knex } from 'knex'

/**
 * The customers' name index (migration 20261225000010) becomes partial, `where name is not null`:
 * true of every row (the column is not null), but only a query that says so can use the index. The
 * aging report's ranking says so; a foreign-key check cannot.
 *
 * Every row that names a customer (balances, data keys, journal lines, invoices, payments, …) has a
 * foreign key to `customers (tenant_id, id)`, checked by a query on `tenant_id = $1 and id = $2`.
 * Postgres plans that check once per connection and keeps the plan until the table's statistics
 * change. Planned while a tenant's customers were few and never analyzed (a new database; a bulk
 * import before autovacuum comes round; this machine runs with autovacuum off), both the primary key
 * and the name index, which also starts with `tenant_id`, cost the same, and the name index won:
 * the tenant as index condition, the id as a filter, so each check read every customer of the
 * tenant. `npm run bench:import` (100,000 customers, three checks each) slowed to 2 ms a check at
 * 45,000 customers and had not finished after five minutes; in `npm run bench` the seven checks of
 * an invoice took 12–15 µs each instead of 3 µs (pg_stat_statements). Only the primary key can now
 * serve the check.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(
    `create index customers_name_order_partial_idx on customers (tenant_id, name collate "und-x-icu", id collate "und-x-icu") ` +
      `include (currency, assigned_to) where name is not null`,
  )
  await knex.raw(`drop index customers_name_order_idx`)
  await knex.raw(`alter index customers_name_order_partial_idx rename to customers_name_order_idx`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`create index customers_name_order_full_idx on customers (tenant_id, name collate "und-x-icu", id collate "und-x-icu") include (currency, assigned_to)`)
  await knex.raw(`drop index customers_name_order_idx`)
  await knex.raw(`alter index customers_name_order_full_idx rename to customers_name_order_idx`)
}

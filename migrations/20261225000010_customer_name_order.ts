import type { Knex } from 'knex'

/**
 * Customers get an index in the aging report's order (ICU root collation of the name, then the id;
 * core/reports/service.ts agedRows), carrying the currency and the row scope's `assigned_to`, so the
 * report ranks a hundred thousand customers off the index alone, in order, instead of sorting them
 * by name (ICU comparisons of names that share a prefix cost about a third of a second there).
 * Nothing on the posting path inserts or re-indexes customers.
 *
 * Tried and left out (README, "Benchmarks"): a covering open-invoices index (with `outstanding` and
 * `exchange_rate`) and a row scope that names the tenant's customers without referring to the row
 * let the report sum the open items in one parallel, grouped pass (about half its time), but the
 * `npm run bench` runs of the same hour with either of them posted 759–833 invoices/s, those
 * without them 989–1,205.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index customers_name_order_idx on customers (tenant_id, name collate "und-x-icu", id collate "und-x-icu") include (currency, assigned_to)`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop index customers_name_order_idx`)
}

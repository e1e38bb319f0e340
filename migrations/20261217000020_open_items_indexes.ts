import type { Knex } from 'knex'

/**
 * Indexes for the open-items-as-of computation (core/reports/open-items.ts) that the aging report and
 * the credit-policy facts share: the movements after a date (late allocations, un-applied
 * allocations, reversal entries) are found without scanning every allocation or entry, and a
 * reversed write-off leads to its write-off by its journal entry.
 *
 * No index on invoices (tenant_id, journal_entry_id): measured with `npm run bench` (API only), it
 * tripled Postgres CPU per posted invoice (655 → 1,665 µs; 870 → 503 invoices/s), for a lookup the
 * as-of computation makes only for the few invoices reversed after the date (a hash join instead).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create index allocations_effective_idx on allocations (tenant_id, effective_date)`)
  await knex.raw(`create index allocations_reversed_idx on allocations (tenant_id, invoice_id) where status = 'reversed'`)
  await knex.raw(`create index journal_entries_reversals_idx on journal_entries (tenant_id, entry_date) where reverses_entry_id is not null`)
  await knex.raw(`create index write_offs_entry_idx on write_offs (tenant_id, journal_entry_id)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

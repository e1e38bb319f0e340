import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Customer merge (API.md "Customers: merge, duplicates, privacy"; core/workflows/merge-customers.ts):
 *
 * - a customer merged into another ends `merged`, with `merged_into` and `merged_at`, and stays
 *   readable; it takes no new document;
 * - the sub-ledger gains `merge_out` (the source's balance leaves) and `merge_in` (it arrives on the
 *   target);
 * - `merges` records each merge: who, why, the transfer entry and what moved.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table customers drop constraint customers_status_check`)
  await knex.raw(`alter table customers add constraint customers_status_check check (status in ('active', 'suspended', 'inactive', 'deleted', 'merged'))`)
  await knex.raw(`
    alter table customers
      add column merged_into text,
      add column merged_at timestamptz,
      add constraint customers_merged_into_fkey foreign key (tenant_id, merged_into) references customers (tenant_id, id),
      add constraint customers_merged_check check ((status = 'merged') = (merged_into is not null) and (merged_into is null) = (merged_at is null))`)
  await knex.raw(`create index customers_merged_into_idx on customers (tenant_id, merged_into) where merged_into is not null`)

  await knex.raw(`alter table customer_transactions drop constraint customer_transactions_type_check`)
  await knex.raw(`
    alter table customer_transactions add constraint customer_transactions_type_check
      check (type in ('invoice', 'payment', 'refund', 'credit_note', 'debit_note', 'adjustment', 'write_off', 'reversal',
                      'fx_difference', 'chargeback', 'chargeback_reversal', 'merge_out', 'merge_in'))`)

  await knex.raw(`
    create table merges (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      source_id text not null,
      target_id text not null,
      reason text not null,
      journal_entry_id text,
      moved jsonb not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, source_id),
      foreign key (tenant_id, source_id) references customers (tenant_id, id),
      foreign key (tenant_id, target_id) references customers (tenant_id, id),
      check (source_id <> target_id)
    )`)
  await tenantRls(knex, 'merges')
  // A key limited to its own customers sees a merge when it sees either side.
  await knex.raw(`
    create policy owner_scope on merges as restrictive for all using (
      coalesce(current_setting('app.owners', true), '') = ''
      or exists (select 1 from customers o where o.tenant_id = merges.tenant_id and o.id in (merges.source_id, merges.target_id)
                 and o.assigned_to = any(string_to_array(current_setting('app.owners', true), ','))))`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

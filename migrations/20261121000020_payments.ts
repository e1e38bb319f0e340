import type { Knex } from 'knex'
import { appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Which payments and credit notes each refund drew its credit from: the named source, or the oldest
 * unapplied credit first when none is named. Every source's unapplied_amount is then its amount −
 * live allocations − refund parts drawn from it (the advance balance is their sum), and a refund's
 * reversal gives the credit back to the same sources. Append-only: a reversal is derived from the
 * refund's sub-ledger reversals, never stored on these rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table refund_sources (
    tenant_id uuid not null,
    refund_id text not null,
    line_no smallint not null check (line_no > 0),
    source_type text not null check (source_type in ('payment', 'credit_note')),
    source_id text not null,
    amount bigint not null check (amount > 0),
    primary key (tenant_id, refund_id, line_no),
    foreign key (tenant_id, refund_id) references refunds (tenant_id, id))`)
  await tenantRls(knex, 'refund_sources')
  await appendOnly(knex, 'refund_sources')
  await knex.raw(`create index refund_sources_source_idx on refund_sources (tenant_id, source_id)`)
  await knex.raw(`create index refunds_customer_idx on refunds (tenant_id, customer_id, id)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

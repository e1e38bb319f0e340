import type { Knex } from 'knex'

/**
 * `metadata` and `external_id` on invoices, payments, credit notes and sales (API.md, issue #15):
 * a merchant's own key/value pairs and its reference for the document (a POS receipt number).
 * external_id is unique per tenant per document table when given (partial unique index, which is
 * also the lookup index of `GET /v1/invoices?external_id=`); the number gets a prefix index for `q=`.
 */
const TABLES = ['invoices', 'payments', 'credit_notes', 'sales'] as const

export async function up(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    await knex.raw(`
      alter table ?? add column external_id text check (char_length(external_id) between 1 and 200),
        add column metadata jsonb not null default '{}' check (jsonb_typeof(metadata) = 'object')`, [table])
    await knex.raw(`create unique index ?? on ?? (tenant_id, external_id text_pattern_ops) where external_id is not null`, [`${table}_external_id_key`, table])
  }
  await knex.raw(`create index invoices_number_prefix_idx on invoices (tenant_id, number text_pattern_ops)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

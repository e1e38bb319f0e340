import type { Knex } from 'knex'

/**
 * Credit notes carry a document number (CN-000001) and, once fully reversed, who voided them and
 * why. A credit adjustment (POST /v1/adjustments with a negative amount) is a credit note without
 * an invoice, so it can be allocated or refunded like any other unapplied credit.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table credit_notes add column number text, add column voided_at timestamptz, add column void_reason text`)
  await knex.raw(`create unique index credit_notes_number_idx on credit_notes (tenant_id, number)`)
  await knex.raw(`create index credit_notes_customer_idx on credit_notes (tenant_id, customer_id, id)`)
  await knex.raw(`create index credit_notes_invoice_idx on credit_notes (tenant_id, invoice_id) where invoice_id is not null`)
  await knex.raw(`create index credit_note_lines_invoice_idx on credit_note_lines (tenant_id, invoice_id, invoice_line_no)`)
  await knex.raw(`create index sales_customer_idx on sales (tenant_id, customer_id, id)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

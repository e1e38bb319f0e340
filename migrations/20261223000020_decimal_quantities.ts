import type { Knex } from 'knex'

/**
 * Decimal line quantities (up to 3 places: goods sold by weight; core/kernel/quantity.ts): invoice
 * lines' quantity and returned quantity, and credit-note lines' quantity, become numeric(12,3).
 * Amounts stay integer minor units. The checks on these columns carry over.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table invoice_lines alter column quantity type numeric(12,3), alter column returned_quantity type numeric(12,3)`)
  await knex.raw(`alter table credit_note_lines alter column quantity type numeric(12,3)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

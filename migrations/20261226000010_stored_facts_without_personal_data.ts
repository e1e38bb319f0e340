import type { Knex } from 'knex'

/**
 * A credit-policy state keeps the facts of its last evaluation without the customer's `metadata`
 * and the plugin's facts (core/credit-policy/model.ts storedFacts): personal data is not copied out
 * of the customer's row, where anonymization erases it. This strips the copies already stored.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`update credit_policy_states set facts = facts - 'metadata' - 'plugin' where facts \\?| array['metadata', 'plugin']`)
}

export async function down(): Promise<void> {
  // Nothing to restore: the next evaluation of each customer writes its facts again.
}

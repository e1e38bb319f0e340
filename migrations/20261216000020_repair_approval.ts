import type { Knex } from 'knex'

/**
 * A reconciliation repair can wait for a second pair of eyes: with the tenant setting
 * `approvals.repair` on, `POST /v1/reconciliations/:id/repair` holds an approval request of action
 * `reconciliation.repair` (core/workflows/approvals.ts), so the action check admits it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table approval_requests drop constraint approval_requests_action_check`)
  await knex.raw(`
    alter table approval_requests add constraint approval_requests_action_check
      check (action in ('refund.create', 'write_off.create', 'reversal.create', 'invoice.void', 'payment.void', 'reconciliation.repair'))`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

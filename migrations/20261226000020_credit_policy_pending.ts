import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Customers waiting for their credit-policy evaluation after a change touched them (core/jobs/
 * credit-policy.ts). The event consumer appends a row per customer and change, and never waits on
 * anyone; the evaluation job takes the rows (skip locked), evaluates each customer once however
 * many rows it had, and deletes them in the same transaction. Append-only rows and no unique key on
 * the customer: an insert never waits for a running evaluation (a unique key would make it wait for
 * the evaluation that is deleting the customer's row). `customer_id` may name no customer (an
 * event's object names one); the evaluation skips those.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table credit_policy_pending (
      tenant_id uuid not null references tenants (tenant_id),
      seq bigint generated always as identity,
      customer_id text not null,
      queued_at timestamptz not null default now(),
      primary key (tenant_id, seq)
    )`)
  await tenantRls(knex, 'credit_policy_pending')
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop table credit_policy_pending`)
}

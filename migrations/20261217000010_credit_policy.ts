import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Credit policy (API.md "Credit policy", "Credit score and credit limits"):
 *
 * - `credit_policy_versions`: every rule set a tenant saved or restored, kept forever; the current
 *   one is the highest version. No row: the tenant runs its credit-policy plugin's defaults.
 * - `credit_policy_runs`: sweeps (on demand, nightly, per customer) with their counts.
 * - `credit_policy_states`: per customer, the open episode (what was applied since the customer
 *   was last current, so each action happens once per episode), whether the policy suspended or
 *   blocked the customer, and the last evaluation (facts, score, grade, factors).
 * - `credit_policy_overdue`: the invoices whose `invoice.overdue` event was emitted (once each).
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table credit_policy_versions (
      tenant_id uuid not null references tenants (tenant_id),
      version integer not null check (version > 0),
      id text not null,
      rules jsonb not null check (jsonb_typeof(rules) = 'array'),
      restored_from integer,
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, version),
      unique (tenant_id, id)
    )`)
  await tenantRls(knex, 'credit_policy_versions')

  await knex.raw(`
    create table credit_policy_runs (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed')),
      trigger text not null check (trigger in ('manual', 'scheduled', 'event')),
      as_of date,
      policy_version integer,
      policy_source text,
      evaluated integer not null default 0,
      actions_taken integer not null default 0,
      rules_failed integer not null default 0,
      error text,
      created_by text not null,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      primary key (tenant_id, id)
    )`)
  await knex.raw(`create index credit_policy_runs_status_idx on credit_policy_runs (tenant_id, status, created_at)`)
  await tenantRls(knex, 'credit_policy_runs')

  await knex.raw(`
    create table credit_policy_states (
      tenant_id uuid not null references tenants (tenant_id),
      customer_id text not null,
      episode integer not null default 0,
      in_episode boolean not null default false,
      applied jsonb not null default '[]'::jsonb check (jsonb_typeof(applied) = 'array'),
      suspended_by_policy boolean not null default false,
      blocked_by_policy boolean not null default false,
      facts jsonb,
      score integer check (score between 0 and 100),
      grade text check (grade in ('A', 'B', 'C', 'D', 'E')),
      factors jsonb,
      policy_version integer,
      evaluated_at timestamptz,
      primary key (tenant_id, customer_id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await tenantRls(knex, 'credit_policy_states')

  await knex.raw(`
    create table credit_policy_overdue (
      tenant_id uuid not null references tenants (tenant_id),
      invoice_id text not null,
      customer_id text not null,
      overdue_date date not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, invoice_id),
      foreign key (tenant_id, invoice_id) references invoices (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await tenantRls(knex, 'credit_policy_overdue')

  for (const table of ['credit_policy_states', 'credit_policy_overdue']) {
    await knex.raw(
      `create policy owner_scope on ${table} as restrictive for all using (${UNSCOPED} or ${table}.customer_id in (select o.id from customers o where o.tenant_id = ${table}.tenant_id and o.assigned_to = any(${OWNERS})))`,
    )
  }
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

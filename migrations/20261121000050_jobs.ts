import type { Knex } from 'knex'
import { APP_ROLE, appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Background work: the tenant directory (how workers find tenants under RLS), per-tenant job
 * settings (pause switch, concurrency cap), outbox dispatch bookkeeping, and reconciliation runs.
 */
export async function up(knex: Knex): Promise<void> {
  // The runtime role sees no tenant row outside that tenant's transaction, so background work
  // (outbox sweeps, schedules) cannot list tenants. This table holds only ids and creation times,
  // no tenant data, so it carries no RLS; the runtime role may read and add, never change or remove.
  await knex.raw(`
    create table tenant_directory (
      tenant_id uuid primary key,
      created_at timestamptz not null default now()
    )`)
  await knex.raw(`create index tenant_directory_created_idx on tenant_directory (created_at, tenant_id)`)
  await knex.raw(`revoke update, delete, truncate on tenant_directory from ${APP_ROLE}`)
  // Existing tenants: FORCE RLS hides them from the owner too, so lift it for this one statement
  // (inside the migration's transaction).
  await knex.raw(`alter table tenants no force row level security`)
  await knex.raw(`insert into tenant_directory (tenant_id, created_at) select tenant_id, created_at from tenants on conflict do nothing`)
  await knex.raw(`alter table tenants force row level security`)

  await knex.raw(`
    create table tenant_job_settings (
      tenant_id uuid not null references tenants (tenant_id),
      paused_at timestamptz,
      paused_reason text check (length(paused_reason) <= 500),
      concurrency integer check (concurrency between 1 and 100),
      updated_at timestamptz not null default now(),
      primary key (tenant_id)
    )`)
  await tenantRls(knex, 'tenant_job_settings')

  // Outbox: published_at (the relay handed it to Bull), dispatched_at (every consumer ran),
  // publish_count (bounded republishing of events whose dispatch keeps failing).
  await knex.raw(`alter table events add column dispatched_at timestamptz, add column publish_count integer not null default 0`)
  // The relay's index: per tenant, the in-flight (published_at set, sorted first) and the backlog
  // (published_at null, in created_at order), so neither query scans the other.
  await knex.raw(`create index events_undispatched_idx on events (tenant_id, published_at, created_at) where dispatched_at is null`)
  // Wakes the relay at commit (NOTIFY is delivered only when the inserting transaction commits),
  // once per tenant per statement.
  await knex.raw(`
    create function events_notify() returns trigger language plpgsql as $$
    begin
      perform pg_notify('outbox', t.tenant_id::text) from (select distinct tenant_id from inserted) t;
      return null;
    end $$`)
  await knex.raw(`create trigger events_notify after insert on events referencing new table as inserted for each statement execute function events_notify()`)

  await knex.raw(`
    create table consumed_events (
      tenant_id uuid not null,
      consumer text not null,
      event_id text not null,
      consumed_at timestamptz not null default now(),
      primary key (tenant_id, consumer, event_id),
      foreign key (tenant_id, event_id) references events (tenant_id, id)
    )`)
  await tenantRls(knex, 'consumed_events')

  await knex.raw(`
    create table reconciliation_runs (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed')),
      trigger text not null check (trigger in ('manual', 'nightly', 'period_close')),
      checked integer,
      discrepancy_count integer,
      error text,
      created_by text,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      repaired_at timestamptz,
      repaired_by text,
      repair_reason text,
      primary key (tenant_id, id)
    )`)
  await knex.raw(`create index reconciliation_runs_unfinished_idx on reconciliation_runs (tenant_id, created_at) where status in ('queued', 'running')`)
  await knex.raw(`create index reconciliation_runs_finished_idx on reconciliation_runs (tenant_id, finished_at) where status = 'completed'`)
  await tenantRls(knex, 'reconciliation_runs')

  await knex.raw(`
    create table reconciliation_discrepancies (
      tenant_id uuid not null,
      run_id text not null,
      line_no integer not null,
      kind text not null,
      customer_id text,
      invoice_id text,
      entry_id text,
      transaction_id text,
      currency text,
      field text not null,
      cached jsonb not null,
      ledger jsonb not null,
      difference bigint,
      primary key (tenant_id, run_id, line_no),
      foreign key (tenant_id, run_id) references reconciliation_runs (tenant_id, id)
    )`)
  await tenantRls(knex, 'reconciliation_discrepancies')
  await appendOnly(knex, 'reconciliation_discrepancies')
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

import type { Knex } from 'knex'
import { APP_ROLE, appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Notification delivery (API.md "Notifications and collections"), beside the shared
 * `notifications` and `communications` tables of 20261216000010:
 *
 * - `notification_channels`: a tenant's configured channel plugins (config validated against the
 *   plugin's configSchema; secrets stored, never shown);
 * - `notification_templates`: a tenant's own texts per template key and language (the built-in
 *   defaults live in code);
 * - `notification_attempts`: the log of every provider call (and of every send whose outcome is
 *   unknown after a crash): never updated, deleted only with its notification (retention);
 * - `consents`: append-only consent history per customer and purpose (the newest row is current);
 * - `statement_runs` and `statements`: a run's progress and each customer's stored PDF;
 * - notifications get the rendered subject and body, the retry cycle start (a manual retry gives
 *   a fresh budget) and attachments (a stored statement).
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`
const ownedCustomer = (table: string) =>
  `${UNSCOPED} or ${table}.customer_id in (select o.id from customers o where o.tenant_id = ${table}.tenant_id and o.assigned_to = any(${OWNERS}))`

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table notification_channels (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      name text not null check (length(name) between 1 and 100),
      plugin text not null check (plugin ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
      config jsonb not null default '{}'::jsonb,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      deleted_at timestamptz,
      primary key (tenant_id, id)
    )`)
  await tenantRls(knex, 'notification_channels')

  await knex.raw(`
    create table notification_templates (
      tenant_id uuid not null references tenants (tenant_id),
      key text not null check (key ~ '^[a-z0-9_]{1,64}$'),
      language text not null check (language ~ '^[a-z]{2}(-[A-Z]{2})\\?$'),
      subject text,
      body text not null,
      updated_by text not null,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, key, language)
    )`)
  await tenantRls(knex, 'notification_templates')

  await knex.raw(`
    alter table notifications
      add column subject text,
      add column body text,
      add column cycle_start integer not null default 0,
      add column statement_id text`)

  await knex.raw(`
    create table notification_attempts (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      notification_id text not null,
      customer_id text not null,
      attempt integer not null check (attempt > 0),
      status text not null check (status in ('sent', 'failed', 'unknown_outcome')),
      provider_id text,
      error jsonb,
      retryable boolean not null default false,
      at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, notification_id, attempt),
      foreign key (tenant_id, notification_id) references notifications (tenant_id, id) on delete cascade,
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await tenantRls(knex, 'notification_attempts')
  // Never changed (no UPDATE for the runtime role); deleted only with its notification (retention).
  await knex.raw(`revoke update, truncate on notification_attempts from ${APP_ROLE}`)
  await knex.raw(`create index notifications_sending_idx on notifications (tenant_id, updated_at) where status = 'sending'`)
  await knex.raw(`create index notifications_due_idx on notifications (tenant_id, next_attempt_at) where status in ('queued', 'failed')`)

  await knex.raw(`
    create table consents (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      purpose text not null check (purpose ~ '^[a-z0-9_]{1,64}$'),
      granted boolean not null,
      source text not null check (length(source) between 1 and 200),
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await knex.raw(`create index consents_customer_idx on consents (tenant_id, customer_id, purpose, id)`)
  await tenantRls(knex, 'consents')
  await appendOnly(knex, 'consents')

  await knex.raw(`
    create table statement_runs (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed')),
      from_date date not null,
      to_date date not null,
      customers text[],
      deliver text not null check (deliver in ('email', 'none')),
      total integer not null default 0,
      done integer not null default 0,
      failed integer not null default 0,
      error text,
      created_by text not null,
      created_at timestamptz not null default now(),
      completed_at timestamptz,
      primary key (tenant_id, id),
      check (from_date <= to_date)
    )`)
  await tenantRls(knex, 'statement_runs')

  await knex.raw(`
    create table statements (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      run_id text not null,
      customer_id text not null,
      from_date date not null,
      to_date date not null,
      status text not null check (status in ('generated', 'failed')),
      pdf bytea,
      error text,
      notification_id text,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, run_id, customer_id),
      foreign key (tenant_id, run_id) references statement_runs (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      foreign key (tenant_id, notification_id) references notifications (tenant_id, id) on delete set null (notification_id)
    )`)
  await tenantRls(knex, 'statements')

  for (const table of ['notification_attempts', 'consents', 'statements']) {
    await knex.raw(`create policy owner_scope on ${table} as restrictive for all using (${ownedCustomer(table)})`)
  }
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

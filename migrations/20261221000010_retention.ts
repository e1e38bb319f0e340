import type { Knex } from 'knex'
import { APP_ROLE, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Retention (API.md "Retention", ARCHITECTURE §7; core/retention, core/workflows/retention.ts):
 *
 * - `retention_policies`: a tenant's overrides of the retention plugin's defaults, per data type;
 * - `retention_runs`: one row per run (manual, dry runs are not stored, or nightly) with its counts;
 * - `retention_anonymizations`: soft-deleted customers anonymized by retention (one row each, written
 *   in the transaction of the anonymization, so a re-run skips them);
 * - the `archive` schema: archived copies of events, notifications, communications and audit rows,
 *   and archive marks of ledger documents (a document's amounts, lines and journal entry never
 *   move). Same tenant RLS as public tables; the runtime role may read and insert, never change.
 *
 * Append-only tables that retention empties: `audit_log` rows may be deleted only inside a retention
 * run (transaction-local `app.retention_run`), only once an identical copy (same seq and hash) is in
 * `archive.audit_log`, and never the newest row of a lane (the chain trigger chains from it).
 * `webhook_delivery_attempts` rows may be deleted only inside a retention run (they go with their
 * purged delivery). Updates and truncation stay refused.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table retention_policies (
      tenant_id uuid not null references tenants (tenant_id),
      data_type text not null check (data_type in ('soft_deleted_customers', 'notifications', 'communications', 'webhook_deliveries',
                                                   'events', 'idempotency_keys', 'audit_log', 'documents')),
      retain_days integer not null check (retain_days between 1 and 36500),
      action text not null check (action in ('archive', 'anonymize', 'purge')),
      updated_by text,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, data_type)
    )`)
  await tenantRls(knex, 'retention_policies')

  await knex.raw(`
    create table retention_runs (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      status text not null default 'queued' check (status in ('queued', 'running', 'completed', 'failed')),
      trigger text not null check (trigger in ('manual', 'nightly')),
      as_of date not null,
      policies jsonb,
      counts jsonb not null default '{}'::jsonb,
      error text,
      created_by text,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      primary key (tenant_id, id)
    )`)
  await knex.raw(`create index retention_runs_status_idx on retention_runs (tenant_id, status, created_at)`)
  await tenantRls(knex, 'retention_runs')

  await knex.raw(`
    create table retention_anonymizations (
      tenant_id uuid not null,
      customer_id text not null,
      run_id text not null,
      anonymized_at timestamptz not null default now(),
      primary key (tenant_id, customer_id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      foreign key (tenant_id, run_id) references retention_runs (tenant_id, id)
    )`)
  await tenantRls(knex, 'retention_anonymizations')

  // The schema itself is made by bootstrapRoles (core/kernel/db/migrate.ts): the owner role may not create schemas.
  const archived = `archived_at timestamptz not null default now(), run_id text not null`
  await knex.raw(`
    create table archive.events (
      tenant_id uuid not null, id text not null, type text not null, data jsonb not null, request_id text, idempotency_key text,
      created_at timestamptz not null, published_at timestamptz, customer_id text, ${archived},
      primary key (tenant_id, id))`)
  await knex.raw(`
    create table archive.notifications (
      tenant_id uuid not null, id text not null, customer_id text not null, template text not null, channel_id text, recipient text,
      data jsonb not null, status text not null, suppressed_reason text, source text not null, source_ref text,
      attempt_count integer not null, next_attempt_at timestamptz, provider_id text, last_error jsonb, sent_at timestamptz,
      created_by text not null, created_at timestamptz not null, updated_at timestamptz not null, ${archived},
      primary key (tenant_id, id))`)
  await knex.raw(`
    create table archive.communications (
      tenant_id uuid not null, id text not null, customer_id text not null, type text not null, direction text not null,
      summary text not null, occurred_at timestamptz not null, promised_amount bigint, promised_date date, notification_id text,
      created_by text not null, created_at timestamptz not null, ${archived},
      primary key (tenant_id, id))`)
  // Columns in the order of public.audit_log, so a row converts to its type for audit_row_hash.
  await knex.raw(`
    create table archive.audit_log (
      tenant_id uuid not null, seq bigint not null, lane smallint not null, lane_seq bigint not null, id text not null,
      actor text, action text not null, entity_type text not null, entity_id text, before jsonb, after jsonb, reason text,
      ip text, user_agent text, request_id text, created_at timestamptz not null, prev_hash text not null, hash text not null,
      customer_id text, ${archived},
      primary key (tenant_id, seq),
      unique (tenant_id, lane, lane_seq),
      unique (tenant_id, id))`)
  await knex.raw(`
    create table archive.documents (
      tenant_id uuid not null, document_type text not null check (document_type in ('invoice')), id text not null, ${archived},
      primary key (tenant_id, document_type, id))`)
  for (const table of ['events', 'notifications', 'communications', 'audit_log', 'documents']) {
    await tenantRls(knex, `archive.${table}`)
    await knex.raw(`grant select, insert on archive.${table} to ${APP_ROLE}`)
    await knex.raw(`create trigger ${table}_append_only before update or delete on archive.${table} for each row execute function public.refuse_mutation()`)
    await knex.raw(`create trigger ${table}_no_truncate before truncate on archive.${table} for each statement execute function public.refuse_mutation()`)
  }
  // The owner scope of the live tables (migration 20261201000010_permissions): a key limited to its
  // own customers reads only their archived rows. Documents are marks without content.
  for (const table of ['events', 'audit_log', 'notifications', 'communications']) {
    await knex.raw(`
      create policy owner_scope on archive.${table} as restrictive for select using (
        coalesce(current_setting('app.owners', true), '') = ''
        or ${table}.customer_id in (select o.id from public.customers o where o.tenant_id = ${table}.tenant_id
                                    and o.assigned_to = any(string_to_array(current_setting('app.owners', true), ','))))`)
  }

  // Audit rows leave the hot table only as archived copies, never a lane's newest row.
  await knex.raw(`
    create function audit_log_archive_only() returns trigger language plpgsql as $$
    begin
      if tg_op <> 'DELETE' or coalesce(current_setting('app.retention_run', true), '') = '' then
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = '42501';
      end if;
      if not exists (select 1 from archive.audit_log a where a.tenant_id = old.tenant_id and a.seq = old.seq and a.hash = old.hash) then
        raise exception 'audit_log row % is not archived: delete refused', old.seq using errcode = '42501';
      end if;
      if not exists (select 1 from audit_log n where n.tenant_id = old.tenant_id and n.lane = old.lane and n.lane_seq > old.lane_seq) then
        raise exception 'audit_log row % is the newest of its lane: delete refused', old.seq using errcode = '42501';
      end if;
      return old;
    end $$`)
  await knex.raw(`drop trigger audit_log_append_only on audit_log`)
  await knex.raw(`create trigger audit_log_append_only before update or delete on audit_log for each row execute function audit_log_archive_only()`)
  await knex.raw(`grant delete on audit_log to ${APP_ROLE}`)

  await knex.raw(`
    create function retention_delete_only() returns trigger language plpgsql as $$
    begin
      if tg_op <> 'DELETE' or coalesce(current_setting('app.retention_run', true), '') = '' then
        raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = '42501';
      end if;
      return old;
    end $$`)
  await knex.raw(`drop trigger webhook_delivery_attempts_append_only on webhook_delivery_attempts`)
  await knex.raw(`create trigger webhook_delivery_attempts_append_only before update or delete on webhook_delivery_attempts for each row execute function retention_delete_only()`)
  await knex.raw(`grant delete on webhook_delivery_attempts to ${APP_ROLE}`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

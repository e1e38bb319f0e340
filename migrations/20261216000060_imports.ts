import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * CSV imports (API.md "Imports"; core/imports, core/workflows/import-rows.ts): the uploaded file is
 * kept with its SHA-256 (the same file of the same type imported again answers the first import),
 * its progress (rows_done moves with each committed chunk, so a retried job resumes after the last
 * chunk it committed), and every refused row with its code, listed as CSV.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table imports (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      type text not null check (type in ('customers', 'opening_balances', 'invoices', 'payments')),
      dry_run boolean not null default false,
      status text not null default 'queued' check (status in ('queued', 'validating', 'importing', 'completed', 'failed')),
      filename text not null,
      size integer not null check (size > 0),
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      content bytea not null,
      rows_total integer,
      rows_done integer not null default 0,
      rows_failed integer not null default 0,
      error text,
      actor jsonb not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      started_at timestamptz,
      finished_at timestamptz,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, type, dry_run, sha256)
    )`)
  await knex.raw(`create index imports_unfinished_idx on imports (tenant_id, status) where status in ('queued', 'validating', 'importing')`)
  await tenantRls(knex, 'imports')

  await knex.raw(`
    create table import_errors (
      tenant_id uuid not null references tenants (tenant_id),
      import_id text not null,
      row integer not null check (row >= 1),
      error_code text not null,
      error_message text not null,
      param text,
      primary key (tenant_id, import_id, row),
      foreign key (tenant_id, import_id) references imports (tenant_id, id)
    )`)
  await tenantRls(knex, 'import_errors')
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

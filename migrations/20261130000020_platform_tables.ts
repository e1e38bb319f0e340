import type { Knex } from 'knex'
import { APP_ROLE, platformTable } from '../core/kernel/db/migration-helpers'

/**
 * Platform tables: the few tables that hold no tenant's data and are therefore not tenant-first.
 * Each one still has row-level security (enabled and forced) with explicit policies, and a
 * `comment on table` starting with `platform table:` that says why it is exempt from the tenant
 * policy; the catalog lint (test/rls.test.ts) accepts no other exemption.
 *
 * - tenant_directory (migration 050) gets its RLS and policies now: everyone may read it (workers
 *   page through it to find tenants), only provisioning may add to it (the row of the tenant whose
 *   transaction it is), nobody updates or deletes.
 * - platform_idempotency_keys: `Idempotency-Key`s of platform routes (POST /v1/tenants), which have
 *   no tenant; visible only to a transaction that declared itself platform work.
 * - database_identity: one row, a random id made when the database is migrated; with
 *   current_database() it names the database every queued job belongs to (core/jobs/queues.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table tenant_directory enable row level security`)
  await knex.raw(`alter table tenant_directory force row level security`)
  await knex.raw(`create policy directory_read on tenant_directory for select using (true)`)
  await knex.raw(
    `create policy directory_provision on tenant_directory for insert
       with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
  )
  await platformTable(
    knex,
    'tenant_directory',
    'ids and creation times of every tenant, no tenant data; readable across tenants so workers can find tenants; rows are added only by provisioning, in the new tenant’s own transaction; never updated or deleted',
  )

  await knex.raw(`
    create table platform_idempotency_keys (
      key text primary key check (length(key) between 1 and 255),
      request_hash text not null,
      method text not null,
      path text not null,
      status_code integer not null,
      -- The response, sealed (AES-256-GCM) with a key derived from PLATFORM_ADMIN_TOKEN: it carries
      -- the new tenant's admin API key secret, which is never stored in the clear.
      sealed_response text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null
    )`)
  await knex.raw(`create index platform_idempotency_keys_expiry_idx on platform_idempotency_keys (expires_at)`)
  await knex.raw(`alter table platform_idempotency_keys enable row level security`)
  await knex.raw(`alter table platform_idempotency_keys force row level security`)
  await knex.raw(
    `create policy platform_only on platform_idempotency_keys
       using (current_setting('app.platform', true) = 'on') with check (current_setting('app.platform', true) = 'on')`,
  )
  await knex.raw(`revoke update, truncate on platform_idempotency_keys from ${APP_ROLE}`)
  await platformTable(
    knex,
    'platform_idempotency_keys',
    'Idempotency-Keys of platform-token routes (POST /v1/tenants), which belong to no tenant; visible only inside a transaction that set app.platform = on (the platform routes), never to tenant work',
  )

  await knex.raw(`
    create table database_identity (
      singleton boolean primary key default true check (singleton),
      id uuid not null default gen_random_uuid(),
      created_at timestamptz not null default now()
    )`)
  await knex.raw(`insert into database_identity default values`)
  await knex.raw(`alter table database_identity enable row level security`)
  await knex.raw(`alter table database_identity force row level security`)
  await knex.raw(`create policy identity_read on database_identity for select using (true)`)
  await knex.raw(`revoke insert, update, delete, truncate on database_identity from ${APP_ROLE}`)
  await platformTable(
    knex,
    'database_identity',
    'one row: the random id of this database (with current_database() the identity every queued job carries, so a worker of another database sharing Redis refuses it); read-only to the runtime role',
  )
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

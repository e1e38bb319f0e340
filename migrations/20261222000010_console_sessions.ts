import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Console sessions (core/console, API.md "Console"): an API key exchanged for a session cookie.
 * The cookie carries the tenant's public id and 32 random bytes; only the SHA-256 of the whole
 * value is stored. The session acts as its API key: revoking the key ends it (authentication joins
 * the key and refuses a revoked one). `csrf_secret` signs the CSRF tokens of state changes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table console_sessions (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null check (id ~ '^[0-9a-f]{64}$'),
      api_key_id text not null,
      csrf_secret text not null,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (tenant_id, id),
      foreign key (tenant_id, api_key_id) references api_keys (tenant_id, id)
    )`)
  await knex.raw(`create index console_sessions_key_idx on console_sessions (tenant_id, api_key_id)`)
  await tenantRls(knex, 'console_sessions')
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

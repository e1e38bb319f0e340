import type { Knex } from 'knex'
import { appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Webhook endpoints, one delivery per (endpoint, event) and the log of every attempt.
 *
 * Secrets are stored as issued, not hashed: unlike API keys, which we only verify, a webhook secret
 * must be available to compute each signature. Row-level security keeps them per tenant; they are
 * never returned after create/rotate and never written to audit rows or logs.
 *
 * The deliveries table is the source of truth for what still has to be sent: `next_attempt_at` is
 * the schedule, and a sweeper re-enqueues due deliveries whose Bull job was lost with Redis.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`create table webhook_endpoints (
    tenant_id uuid not null references tenants (tenant_id),
    id text not null,
    url text not null check (length(url) between 1 and 2048 and (url like 'http://%' or url like 'https://%')),
    events text[] not null check (cardinality(events) between 1 and 100),
    description text check (length(description) <= 500),
    status text not null default 'enabled' check (status in ('enabled', 'disabled')),
    disabled_reason text,
    secret text not null check (secret like 'whsec_%'),
    previous_secret text check (previous_secret like 'whsec_%'),
    previous_secret_expires_at timestamptz,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz,
    primary key (tenant_id, id),
    check ((previous_secret is null) = (previous_secret_expires_at is null)))`)
  await tenantRls(knex, 'webhook_endpoints')

  await knex.raw(`create table webhook_deliveries (
    tenant_id uuid not null,
    id text not null,
    endpoint_id text not null,
    event_id text not null,
    event_type text not null,
    status text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempts integer not null default 0 check (attempts >= 0),
    cycle_start integer not null default 0 check (cycle_start between 0 and attempts),
    next_attempt_at timestamptz,
    locked_until timestamptz,
    last_status_code integer,
    last_error text,
    delivered_at timestamptz,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (tenant_id, endpoint_id, event_id),
    foreign key (tenant_id, endpoint_id) references webhook_endpoints (tenant_id, id),
    foreign key (tenant_id, event_id) references events (tenant_id, id),
    check ((status = 'pending') = (next_attempt_at is not null)))`)
  await tenantRls(knex, 'webhook_deliveries')
  await knex.raw(`create index webhook_deliveries_due_idx on webhook_deliveries (tenant_id, next_attempt_at) where status = 'pending'`)
  await knex.raw(`create index webhook_deliveries_endpoint_idx on webhook_deliveries (tenant_id, endpoint_id, id)`)
  await knex.raw(`create index webhook_deliveries_event_idx on webhook_deliveries (tenant_id, event_id)`)

  await knex.raw(`create table webhook_delivery_attempts (
    tenant_id uuid not null,
    id text not null,
    delivery_id text not null,
    attempt integer not null check (attempt > 0),
    status_code integer,
    duration_ms integer not null check (duration_ms >= 0),
    error text check (length(error) <= 1000),
    response_excerpt text check (length(response_excerpt) <= 1024),
    next_attempt_at timestamptz,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (tenant_id, delivery_id, attempt),
    foreign key (tenant_id, delivery_id) references webhook_deliveries (tenant_id, id))`)
  await tenantRls(knex, 'webhook_delivery_attempts')
  await appendOnly(knex, 'webhook_delivery_attempts')
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

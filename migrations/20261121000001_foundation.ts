import type { Knex } from 'knex'
import { APP_ROLE, appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`revoke insert, update, delete, truncate on knex_migrations, knex_migrations_lock from ${APP_ROLE}`)

  await knex.raw(`
    create function refuse_mutation() returns trigger language plpgsql as $$
    begin
      raise exception '% is append-only: % refused', tg_table_name, tg_op using errcode = '42501';
    end $$`)

  // Control plane: the tenant row is visible only inside its own tenant transaction. Provisioning
  // opens a transaction scoped to the new tenant's id, so no role ever needs to bypass RLS.
  await knex.raw(`
    create table tenants (
      tenant_id uuid primary key,
      name text not null check (length(name) between 1 and 200),
      base_currency text not null check (base_currency ~ '^[a-z]{3}$'),
      timezone text not null default 'UTC',
      sandbox boolean not null default false,
      test_clock_date date,
      settings jsonb not null default '{}'::jsonb,
      created_at timestamptz not null default now()
    )`)
  await tenantRls(knex, 'tenants')

  await knex.raw(`
    create table api_keys (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      name text not null,
      role text not null,
      mode text not null check (mode in ('test', 'live')),
      secret_hash text not null,
      last4 text not null,
      created_by text,
      created_at timestamptz not null default now(),
      revoked_at timestamptz,
      revoked_by text,
      primary key (tenant_id, id),
      unique (tenant_id, secret_hash)
    )`)
  await tenantRls(knex, 'api_keys')

  await knex.raw(`
    create table customers (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      name text not null,
      email text,
      phone text,
      tax_id text,
      billing_address jsonb,
      shipping_address jsonb,
      currency text not null check (currency ~ '^[a-z]{3}$'),
      credit_limit bigint check (credit_limit >= 0),
      payment_terms_days integer not null default 30 check (payment_terms_days between 0 and 3650),
      external_id text,
      assigned_to text,
      metadata jsonb not null default '{}'::jsonb,
      status text not null default 'active' check (status in ('active', 'suspended', 'inactive', 'deleted')),
      status_before_delete text,
      version integer not null default 1,
      deleted_at timestamptz,
      deleted_by text,
      delete_reason text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id)
    )`)
  await knex.raw(`create unique index customers_external_id_key on customers (tenant_id, external_id) where external_id is not null and deleted_at is null`)
  await knex.raw(`create index customers_email_idx on customers (tenant_id, lower(email)) where email is not null`)
  await knex.raw(`create index customers_phone_idx on customers (tenant_id, phone) where phone is not null`)
  await knex.raw(`create index customers_tax_id_idx on customers (tenant_id, tax_id) where tax_id is not null`)
  await tenantRls(knex, 'customers')

  // Cached balances: changed only by the posting engine, by atomic increment, in the posting
  // transaction. current_balance is derived, so it cannot disagree with its parts.
  await knex.raw(`
    create table customer_balances (
      tenant_id uuid not null,
      customer_id text not null,
      currency text not null,
      pending_balance bigint not null default 0,
      advance_balance bigint not null default 0 check (advance_balance >= 0),
      current_balance bigint generated always as (pending_balance - advance_balance) stored,
      version bigint not null default 0,
      updated_at timestamptz not null default now(),
      primary key (tenant_id, customer_id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await tenantRls(knex, 'customer_balances')

  // Audit log: append-only, hash-chained per tenant. The tenant's chain runs in 64 lanes
  // (by entity), each a hash chain with contiguous positions, so writers on different entities do
  // not queue behind one tenant-wide lock until commit; a verifier checks every lane. Positions and
  // hashes are assigned by the insert trigger under the lane's transaction lock, so concurrent
  // writers cannot fork a lane.
  await knex.raw(`create sequence audit_log_seq`)
  await knex.raw(`
    create table audit_log (
      tenant_id uuid not null,
      seq bigint not null,
      lane smallint not null,
      lane_seq bigint not null,
      id text not null,
      actor text,
      action text not null,
      entity_type text not null,
      entity_id text,
      before jsonb,
      after jsonb,
      reason text,
      ip text,
      user_agent text,
      request_id text,
      created_at timestamptz not null default clock_timestamp(),
      prev_hash text not null,
      hash text not null,
      primary key (tenant_id, seq),
      unique (tenant_id, lane, lane_seq),
      unique (tenant_id, id)
    )`)
  await knex.raw(`create index audit_log_entity_idx on audit_log (tenant_id, entity_id, seq)`)
  await knex.raw(`create index audit_log_actor_idx on audit_log (tenant_id, actor, seq)`)
  await knex.raw(`
    create function audit_row_hash(prev_hash text, r audit_log) returns text
    language sql immutable as $$
      select encode(sha256(convert_to(prev_hash || '|' || jsonb_build_array(
        r.tenant_id, r.seq, r.lane, r.lane_seq, r.id, r.actor, r.action, r.entity_type, r.entity_id, r.before, r.after,
        r.reason, r.ip, r.user_agent, r.request_id,
        to_char(r.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      )::text, 'UTF8')), 'hex')
    $$`)
  await knex.raw(`
    create function audit_log_chain() returns trigger language plpgsql as $$
    declare
      last record;
    begin
      -- The writer picks the lane (one per transaction, so it takes one lane lock); default by entity.
      if new.lane is null or new.lane not between 0 and 63 then
        new.lane := abs(hashtext(coalesce(new.entity_id, new.id))) % 64;
      end if;
      perform pg_advisory_xact_lock(hashtextextended('audit_log:' || new.tenant_id::text || ':' || new.lane, 0));
      select lane_seq, hash into last from audit_log
        where tenant_id = new.tenant_id and lane = new.lane order by lane_seq desc limit 1;
      new.seq := nextval('audit_log_seq');
      new.lane_seq := coalesce(last.lane_seq, 0) + 1;
      new.prev_hash := coalesce(last.hash, '');
      new.created_at := clock_timestamp();
      new.hash := audit_row_hash(new.prev_hash, new);
      return new;
    end $$`)
  await knex.raw(`create trigger audit_log_chain before insert on audit_log for each row execute function audit_log_chain()`)
  await tenantRls(knex, 'audit_log')
  await appendOnly(knex, 'audit_log')

  // Idempotency: the stored response commits in the same transaction as the effect.
  await knex.raw(`
    create table idempotency_keys (
      tenant_id uuid not null,
      key text not null check (length(key) between 1 and 255),
      request_hash text not null,
      method text not null,
      path text not null,
      status_code integer not null,
      response_body jsonb,
      created_at timestamptz not null default now(),
      expires_at timestamptz not null,
      primary key (tenant_id, key)
    )`)
  await knex.raw(`create index idempotency_keys_expiry_idx on idempotency_keys (expires_at)`)
  await tenantRls(knex, 'idempotency_keys')

  // Outbox: domain events inserted in the same transaction as the change they describe.
  await knex.raw(`
    create table events (
      tenant_id uuid not null,
      id text not null,
      type text not null,
      data jsonb not null,
      request_id text,
      idempotency_key text,
      created_at timestamptz not null default now(),
      published_at timestamptz,
      primary key (tenant_id, id)
    )`)
  await knex.raw(`create index events_type_idx on events (tenant_id, type, id)`)
  await knex.raw(`create index events_unpublished_idx on events (created_at) where published_at is null`)
  await tenantRls(knex, 'events')
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

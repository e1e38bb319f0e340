import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Permissions (core/kernel/permissions.ts):
 *
 * - `roles`: a tenant's custom roles (named permissions, optionally limited to own customers).
 * - `api_keys.user_label`: the staff member a key belongs to (API field `user`); a customer's
 *   `assigned_to` names a key id or a user label, so rotating a rep's key keeps its customers.
 * - Row scoping: a request of a key limited to its own customers sets the transaction-local
 *   `app.owners` (its key id and user label, comma-separated). Restrictive policies then hide, on
 *   top of the tenant policy, every customer not assigned to one of them and every row of such a
 *   customer. Unset or empty: no limit (every other key, the workers). On document tables the policy
 *   also checks writes (a scoped key cannot post for another's customer, nor hand its customer to
 *   someone else); on the append-only logs (events, audit) it filters reads.
 * - `events.customer_id`, `audit_log.customer_id`: the customer a row is about (set by the writer:
 *   the customer itself, or the document's customer), so the logs can be scoped the same way. Not
 *   part of the audit hash: it decides visibility only. The audit chain trigger reads its lane's tail
 *   with the row scope lifted (the tail may be another customer's row).
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`

/** Tables keyed by customer: documents, balances, the sub-ledger. */
const CUSTOMER_TABLES = ['invoices', 'payments', 'allocations', 'credit_notes', 'refunds', 'write_offs', 'adjustments', 'sales', 'customer_balances', 'customer_transactions']
const LOG_TABLES = ['events', 'audit_log']

function ownedCustomer(table: string): string {
  return `${UNSCOPED} or ${table}.customer_id in (select o.id from customers o where o.tenant_id = ${table}.tenant_id and o.assigned_to = any(${OWNERS}))`
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table roles (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      name text not null check (name ~ '^[a-z][a-z0-9_]{0,63}$'),
      description text,
      permissions text[] not null,
      own_customers_only boolean not null default false,
      version integer not null default 1,
      created_by text,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, name)
    )`)
  await tenantRls(knex, 'roles')

  await knex.raw(`alter table api_keys add column user_label text check (user_label ~ '^[A-Za-z0-9.@+-]{1,100}$')`)
  await knex.raw(`create index api_keys_user_idx on api_keys (tenant_id, user_label) where user_label is not null`)
  await knex.raw(`create index customers_assigned_idx on customers (tenant_id, assigned_to) where assigned_to is not null`)

  await knex.raw(`create policy owner_scope on customers as restrictive for all using (${UNSCOPED} or assigned_to = any(${OWNERS}))`)
  for (const table of CUSTOMER_TABLES) {
    await knex.raw(`create policy owner_scope on ${table} as restrictive for all using (${ownedCustomer(table)})`)
  }
  for (const table of LOG_TABLES) {
    await knex.raw(`alter table ${table} add column customer_id text`)
    await knex.raw(`create index ${table}_customer_idx on ${table} (tenant_id, customer_id) where customer_id is not null`)
    await knex.raw(`create policy owner_scope on ${table} as restrictive for select using (${ownedCustomer(table)})`)
  }
  await knex.raw(`
    create or replace function audit_log_chain() returns trigger language plpgsql as $$
    declare
      last record;
      tail text[];
      owners text;
    begin
      -- The writer picks the lane (one per transaction, so it takes one lane lock); default by entity.
      if new.lane is null or new.lane not between 0 and 63 then
        new.lane := abs(hashtext(coalesce(new.entity_id, new.id))) % 64;
      end if;
      -- tenant | lane | lane_seq | hash of the row this transaction chained last.
      tail := string_to_array(current_setting('audit.tail', true), '|');
      if tail[1] = new.tenant_id::text and tail[2] = new.lane::text then
        new.lane_seq := tail[3]::bigint + 1;
        new.prev_hash := tail[4];
      else
        perform pg_advisory_xact_lock(hashtextextended('audit_log:' || new.tenant_id::text || ':' || new.lane, 0));
        -- The lane's tail may be about another customer: a key limited to its own customers must
        -- still chain to it, so its row scope is lifted for this one read (tenant isolation stays).
        owners := coalesce(current_setting('app.owners', true), '');
        if owners <> '' then perform set_config('app.owners', '', true); end if;
        select lane_seq, hash into last from audit_log
          where tenant_id = new.tenant_id and lane = new.lane order by lane_seq desc limit 1;
        if owners <> '' then perform set_config('app.owners', owners, true); end if;
        new.lane_seq := coalesce(last.lane_seq, 0) + 1;
        new.prev_hash := coalesce(last.hash, '');
      end if;
      new.seq := nextval('audit_log_seq');
      new.created_at := clock_timestamp();
      new.hash := encode(sha256(convert_to(new.prev_hash || '|' || jsonb_build_array(
        new.tenant_id, new.seq, new.lane, new.lane_seq, new.id, new.actor, new.action, new.entity_type, new.entity_id, new.before,
        new.after, new.reason, new.ip, new.user_agent, new.request_id,
        to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      )::text, 'UTF8')), 'hex');
      perform set_config('audit.tail', new.tenant_id::text || '|' || new.lane || '|' || new.lane_seq || '|' || new.hash, true);
      return new;
    end $$`)

  // What existing rows are about (new rows get it from their writer).
  await knex.raw(`
    update events set customer_id = case when data->'object'->>'object' = 'customer' then data->'object'->>'id' else data->'object'->>'customer' end`)
  await knex.raw(`alter table audit_log disable trigger user`)
  await knex.raw(`
    update audit_log set customer_id = case when entity_type = 'customer' then entity_id else coalesce(after->>'customer', before->>'customer') end`)
  await knex.raw(`alter table audit_log enable trigger user`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

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
 *   part of the audit hash: it decides visibility only.
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

  await knex.raw(`alter table api_keys add column user_label text check (user_label ~ '^[A-Za-z0-9._@+-]{1,100}$' and user_label !~ '^key_')`)
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

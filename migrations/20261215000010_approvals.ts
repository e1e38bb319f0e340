import type { Knex } from 'knex'
import { appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Four eyes and credit limits (API.md "Approvals", "Credit score and credit limits"):
 *
 * - `approval_requests`: a refund, write-off or reversal over the tenant's threshold
 *   (`tenants.settings.approvals`) waits here, with the request it stands for, until a second key
 *   approves (the action then runs once, in the approving transaction) or rejects it. A pending
 *   request past `expires_at` reads as expired.
 * - `credit_limit_requests`: a requested change of a customer's credit limit (or temporary limit);
 *   a decrease applies at once, an increase waits for a `credit_limits.approve` holder.
 * - `credit_limit_changes`: every change of a customer's limit or temporary limit, whatever made it
 *   (a request, a PATCH, the credit policy, an import), append-only.
 *
 * The customer tables carry the restrictive `owner_scope` policy of migration 20261201000010, so a
 * key limited to its own customers sees only their requests and history.
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`

function ownedCustomer(table: string): string {
  return `${UNSCOPED} or ${table}.customer_id in (select o.id from customers o where o.tenant_id = ${table}.tenant_id and o.assigned_to = any(${OWNERS}))`
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create table approval_requests (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      action text not null check (action in ('refund.create', 'write_off.create', 'reversal.create', 'invoice.void', 'payment.void')),
      status text not null default 'pending' check (status in ('pending', 'approved', 'rejected', 'failed')),
      customer_id text,
      amount bigint not null check (amount >= 0),
      base_amount bigint not null check (base_amount >= 0),
      currency text not null,
      payload jsonb not null,
      requested_by text not null,
      requested_user text,
      requested_reason text,
      decided_by text,
      decided_user text,
      decided_at timestamptz,
      reason text,
      result jsonb,
      error jsonb,
      expires_at timestamptz not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      check ((status = 'pending') = (decided_at is null))
    )`)
  await knex.raw(`create index approval_requests_pending_idx on approval_requests (tenant_id, status, id)`)
  await tenantRls(knex, 'approval_requests')

  await knex.raw(`
    create table credit_limit_requests (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      status text not null check (status in ('pending', 'approved', 'rejected')),
      kind text not null check (kind in ('credit_limit', 'temporary_credit_limit')),
      from_limit bigint,
      to_limit bigint not null check (to_limit >= 0),
      expires_on date,
      reason text not null,
      requested_by text not null,
      requested_user text,
      decided_by text,
      decided_user text,
      decision_reason text,
      decided_at timestamptz,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      check ((kind = 'temporary_credit_limit') = (expires_on is not null))
    )`)
  await knex.raw(`create index credit_limit_requests_customer_idx on credit_limit_requests (tenant_id, customer_id, id)`)
  await knex.raw(`create index credit_limit_requests_status_idx on credit_limit_requests (tenant_id, status, id)`)
  await tenantRls(knex, 'credit_limit_requests')

  await knex.raw(`
    create table credit_limit_changes (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      kind text not null check (kind in ('credit_limit', 'temporary_credit_limit')),
      from_limit bigint,
      to_limit bigint,
      expires_on date,
      source text not null check (source in ('request', 'patch', 'policy', 'import')),
      request_id text,
      requested_by text,
      approved_by text,
      reason text,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      foreign key (tenant_id, request_id) references credit_limit_requests (tenant_id, id)
    )`)
  await knex.raw(`create index credit_limit_changes_customer_idx on credit_limit_changes (tenant_id, customer_id, id)`)
  await tenantRls(knex, 'credit_limit_changes')
  await appendOnly(knex, 'credit_limit_changes')

  for (const table of ['approval_requests', 'credit_limit_requests', 'credit_limit_changes']) {
    await knex.raw(`create policy owner_scope on ${table} as restrictive for all using (${ownedCustomer(table)})`)
  }
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

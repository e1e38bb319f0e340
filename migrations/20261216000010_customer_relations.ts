import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * What credit policy, collections and disputes share about a customer (API.md "Credit policy",
 * "Notifications and collections", "Disputes and chargebacks"):
 *
 * - customer fields the policy reads and writes: `tier`, `grace_period_days` (overrides the
 *   policy's), `suspension_override_until` (rules see `suspension_override: true` until then),
 *   `credit_hold` (no sale on account, no invoice) and `preferences` (`{email, sms, language}`);
 * - `notifications`: one message to one customer through one channel, from the API, the credit
 *   policy or a statement run; its status moves queued → sending → sent | failed → dead, or it is
 *   `suppressed` with a reason; at most one send per id;
 * - `communications`: the log of calls, e-mails, letters, visits, notes and promises to pay
 *   (`promised_amount`, `promised_date`), a sent notification included;
 * - `disputes`: a chargeback, refund request or billing error against a payment or an invoice;
 *   while `open` or `under_review` its amount is disputed, and disputed amounts are never overdue.
 *
 * Every table is tenant-first with the tenant policy, and carries the restrictive `owner_scope`
 * policy, so a key limited to its own customers sees only theirs.
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`

function ownedCustomer(table: string): string {
  return `${UNSCOPED} or ${table}.customer_id in (select o.id from customers o where o.tenant_id = ${table}.tenant_id and o.assigned_to = any(${OWNERS}))`
}

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table customers
      add column tier text check (tier ~ '^[a-z0-9_]{1,32}$'),
      add column grace_period_days integer check (grace_period_days between 0 and 365),
      add column suspension_override_until date,
      add column credit_hold boolean not null default false,
      add column preferences jsonb not null default '{}'::jsonb check (jsonb_typeof(preferences) = 'object')`)

  await knex.raw(`
    create table notifications (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      template text not null check (template ~ '^[a-z0-9_]{1,64}$'),
      channel_id text,
      recipient text,
      data jsonb not null default '{}'::jsonb,
      status text not null default 'queued'
        check (status in ('queued', 'sending', 'sent', 'failed', 'dead', 'suppressed')),
      suppressed_reason text,
      source text not null check (source in ('api', 'credit_policy', 'statement_run', 'dunning', 'system')),
      source_ref text,
      attempt_count integer not null default 0 check (attempt_count >= 0),
      next_attempt_at timestamptz,
      provider_id text,
      last_error jsonb,
      sent_at timestamptz,
      created_by text not null,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      check ((status = 'suppressed') = (suppressed_reason is not null)),
      check (status <> 'sent' or sent_at is not null)
    )`)
  await knex.raw(`create index notifications_customer_idx on notifications (tenant_id, customer_id, id)`)
  await knex.raw(`create index notifications_status_idx on notifications (tenant_id, status, id)`)
  await tenantRls(knex, 'notifications')

  await knex.raw(`
    create table communications (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      type text not null check (type in ('call', 'email', 'sms', 'letter', 'visit', 'note', 'promise_to_pay')),
      direction text not null check (direction in ('inbound', 'outbound')),
      summary text not null,
      occurred_at timestamptz not null default now(),
      promised_amount bigint check (promised_amount > 0),
      promised_date date,
      notification_id text,
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      foreign key (tenant_id, notification_id) references notifications (tenant_id, id),
      check ((type = 'promise_to_pay') = (promised_date is not null))
    )`)
  await knex.raw(`create index communications_customer_idx on communications (tenant_id, customer_id, id)`)
  await knex.raw(`create index communications_promises_idx on communications (tenant_id, customer_id, promised_date) where type = 'promise_to_pay'`)
  await tenantRls(knex, 'communications')

  await knex.raw(`
    create table disputes (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      customer_id text not null,
      type text not null check (type in ('chargeback', 'refund_request', 'billing_error', 'other')),
      status text not null default 'open'
        check (status in ('open', 'under_review', 'won', 'lost', 'accepted', 'rejected')),
      payment_id text,
      invoice_id text,
      currency text not null check (currency ~ '^[a-z]{3}$'),
      amount bigint not null check (amount > 0),
      base_amount bigint not null check (base_amount > 0),
      reason text not null,
      reference text,
      resolution text,
      outcome_entry_id text,
      created_by text not null,
      resolved_by text,
      resolved_at timestamptz,
      created_at timestamptz not null default now(),
      updated_at timestamptz not null default now(),
      primary key (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id),
      foreign key (tenant_id, payment_id) references payments (tenant_id, id),
      foreign key (tenant_id, invoice_id) references invoices (tenant_id, id),
      check (num_nonnulls(payment_id, invoice_id) <= 1),
      check ((status in ('open', 'under_review')) = (resolved_at is null))
    )`)
  await knex.raw(`create index disputes_customer_idx on disputes (tenant_id, customer_id, id)`)
  await knex.raw(`create index disputes_open_idx on disputes (tenant_id, customer_id) where status in ('open', 'under_review')`)
  await tenantRls(knex, 'disputes')

  for (const table of ['notifications', 'communications', 'disputes']) {
    await knex.raw(`create policy owner_scope on ${table} as restrictive for all using (${ownedCustomer(table)})`)
  }
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

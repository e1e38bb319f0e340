import type { Knex } from 'knex'
import { tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * Disputes (API.md "Disputes and chargebacks"): the dispute row (migration 20261216000010) gains
 * what a chargeback posted and reopened, when it was submitted, the refund (or the approval request
 * holding it) an accepted refund request made, and its evidence: files a merchant uploads
 * (PDF, PNG, JPEG or plain text, at most 10 MiB each, checked by content), stored with their
 * SHA-256 so the same file uploaded twice to one dispute is one piece of evidence.
 */
const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    alter table disputes
      add column chargeback_entry_id text,
      add column reopened jsonb not null default '[]'::jsonb,
      add column submitted_at timestamptz,
      add column submitted_by text,
      add column refund_id text`)
  await knex.raw(`create index disputes_payment_idx on disputes (tenant_id, payment_id) where payment_id is not null`)

  await knex.raw(`
    create table dispute_evidence (
      tenant_id uuid not null references tenants (tenant_id),
      id text not null,
      dispute_id text not null,
      customer_id text not null,
      filename text not null check (length(filename) between 1 and 255),
      content_type text not null check (content_type in ('application/pdf', 'image/png', 'image/jpeg', 'text/plain')),
      size integer not null check (size between 1 and 10485760),
      sha256 text not null check (sha256 ~ '^[0-9a-f]{64}$'),
      content bytea not null,
      created_by text not null,
      created_at timestamptz not null default now(),
      primary key (tenant_id, id),
      unique (tenant_id, dispute_id, sha256),
      foreign key (tenant_id, dispute_id) references disputes (tenant_id, id),
      foreign key (tenant_id, customer_id) references customers (tenant_id, id)
    )`)
  await tenantRls(knex, 'dispute_evidence')
  await knex.raw(
    `create policy owner_scope on dispute_evidence as restrictive for all using (${UNSCOPED} or dispute_evidence.customer_id in (select o.id from customers o where o.tenant_id = dispute_evidence.tenant_id and o.assigned_to = any(${OWNERS})))`,
  )
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

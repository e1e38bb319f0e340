import type { Knex } from 'knex'

/**
 * The aging report over a million open invoices (core/reports/service.ts agedRows) as one parallel,
 * grouped pass:
 *
 * - The row scope (`owner_scope`, migration 20261201000010) names the current tenant's customers by
 *   the transaction's `app.tenant_id` rather than by the row's own `tenant_id`. The two are equal on
 *   every row the tenant policy lets through, so what a key sees and may write is unchanged; but the
 *   subquery no longer refers to the row, so Postgres computes it once per query (a hashed subplan,
 *   not one index probe per row for a key limited to its own customers) and may run the scan in
 *   parallel workers, which it never does for a subquery that refers to the scanned row.
 * - The open-invoices index carries `outstanding` and `exchange_rate`, so the report reads the open
 *   items off the index alone (an index-only scan, already in customer order) and never the invoice
 *   rows. No update becomes a non-heap-only one: `outstanding` is already the index's predicate, and
 *   an invoice's `exchange_rate` is never updated after it is posted.
 * - Customers have an index in the report's order (ICU root collation of the name, then the id),
 *   carrying the currency and the row scope's `assigned_to`, so the report ranks a hundred thousand
 *   customers off the index alone, in order, instead of sorting them by name.
 *
 * Invoice posting with and without these (README, "Benchmarks"): the first `npm run bench` runs of
 * one hour suggested they cost it a quarter, two alternating pairs later showed no difference; on
 * that path they add two columns to one index entry per invoice and a row-scope check that stops at
 * its first term for unscoped keys (planning times of its statements unchanged).
 */

const OWNERS = `string_to_array(current_setting('app.owners', true), ',')`
const UNSCOPED = `coalesce(current_setting('app.owners', true), '') = ''`
const TENANT = `nullif(current_setting('app.tenant_id', true), '')::uuid`

/** Every table whose owner_scope is "the row's customer_id is one of the key's customers". */
const TABLES = [
  'adjustments', 'allocations', 'approval_requests', 'audit_log', 'communications', 'consents', 'credit_limit_changes', 'credit_limit_requests',
  'credit_notes', 'credit_policy_overdue', 'credit_policy_states', 'customer_balances', 'customer_transactions', 'dispute_evidence', 'disputes',
  'events', 'invoices', 'notification_attempts', 'notifications', 'payments', 'refunds', 'sales', 'statements', 'write_offs',
  'archive.audit_log', 'archive.communications', 'archive.events', 'archive.notifications',
]

function ownedCustomer(tenant: string): string {
  return `${UNSCOPED} or customer_id in (select o.id from customers o where o.tenant_id = ${tenant} and o.assigned_to = any(${OWNERS}))`
}

export async function up(knex: Knex): Promise<void> {
  for (const table of TABLES) await knex.raw(`alter policy owner_scope on ${table} using (${ownedCustomer(TENANT)})`)

  await knex.raw(`create index invoices_open_cover_idx on invoices (tenant_id, customer_id, due_date, issue_date, id) include (outstanding, exchange_rate) where outstanding > 0`)
  await knex.raw(`drop index invoices_open_idx`)
  await knex.raw(`alter index invoices_open_cover_idx rename to invoices_open_idx`)

  await knex.raw(`create index customers_name_order_idx on customers (tenant_id, name collate "und-x-icu", id collate "und-x-icu") include (currency, assigned_to)`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`drop index customers_name_order_idx`)
  await knex.raw(`create index invoices_open_plain_idx on invoices (tenant_id, customer_id, due_date, issue_date, id) where outstanding > 0`)
  await knex.raw(`drop index invoices_open_idx`)
  await knex.raw(`alter index invoices_open_plain_idx rename to invoices_open_idx`)
  for (const table of TABLES) {
    await knex.raw(`alter policy owner_scope on ${table} using (${ownedCustomer(`${table.replace(/^archive\./, '')}.tenant_id`)})`)
  }
}

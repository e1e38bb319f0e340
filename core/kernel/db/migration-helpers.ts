import type { Knex } from 'knex'

export const OWNER_ROLE = 'recv_owner'
export const APP_ROLE = 'recv_app'

/** The one tenant policy: RLS scoped by the transaction-local `app.tenant_id`. */
export async function tenantRls(knex: Knex, table: string): Promise<void> {
  await knex.raw(`alter table ?? enable row level security`, [table])
  await knex.raw(`alter table ?? force row level security`, [table])
  await knex.raw(
    `create policy tenant_isolation on ?? using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid) with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`,
    [table],
  )
}

/** Append-only for the runtime role: no UPDATE/DELETE grant, and a trigger refuses it for anyone. */
export async function appendOnly(knex: Knex, table: string): Promise<void> {
  await knex.raw(`revoke update, delete, truncate on ?? from ${APP_ROLE}`, [table])
  await knex.raw(`create trigger ${table}_append_only before update or delete on ?? for each row execute function refuse_mutation()`, [table])
  await knex.raw(`create trigger ${table}_no_truncate before truncate on ?? for each statement execute function refuse_mutation()`, [table])
}

/** How a platform table's comment starts; the catalog lint (test/rls.test.ts) looks for it. */
export const PLATFORM_TABLE_MARK = 'platform table:'

/**
 * Declares a table that holds no tenant's data (so it is not tenant-first) as a platform table:
 * a `comment on table` with the reason, which the catalog lint requires of every table exempt from
 * the tenant policy. The table must still enable and force RLS with its own explicit policies.
 */
export async function platformTable(knex: Knex, table: string, reason: string): Promise<void> {
  if (reason.trim().length < 20) throw new Error(`platformTable(${table}): say why it is not tenant data`)
  if (!/^[a-z_][a-z0-9_]*$/.test(table) || /[?']/.test(reason)) throw new Error(`platformTable(${table}): plain table name, no ? or ' in the reason`)
  await knex.raw(`comment on table ${table} is '${PLATFORM_TABLE_MARK} ${reason}'`)
}

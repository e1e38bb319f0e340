import type { Knex } from 'knex'

/**
 * The row scope's "is this key limited at all?" test, once per statement instead of once per row.
 *
 * Every `owner_scope` policy (migration 20261201000010 and the tables added since) starts with
 * `coalesce(current_setting('app.owners', true), '') = ''`: true for every key that is not limited
 * to its own customers. `current_setting` is stable, not immutable, so Postgres calls it for every
 * row a statement reads: a million times for the aging report's pass over a million open invoices.
 * As a scalar subquery, `(select …)`, the same test becomes an initplan: computed once per statement
 * and read as a parameter on each row. What a key sees and may write is unchanged.
 *
 * Measured on the aging report's query as the application role over a million open invoices, in
 * alternating pairs: 960 against 1,045, 1,190 against 1,458 and 1,125 against 1,188 ms of backend
 * CPU per report.
 *
 * The policies differ past that test (merges name two customers, the customers table its own
 * `assigned_to`), so each is rewritten from its own expression as Postgres prints it, and the
 * migration fails if a policy does not contain the test exactly once.
 */
const PER_ROW = `(COALESCE(current_setting('app.owners'::text, true), ''::text) = ''::text)`
// As Postgres prints it back (pg_policies), so `down` finds it.
const ONCE = `( SELECT ${PER_ROW})`

const IDENT = /^[a-z_][a-z0-9_]*$/

async function rewrite(knex: Knex, from: string, to: string): Promise<void> {
  const { rows } = await knex.raw(`select schemaname, tablename, qual from pg_policies where policyname = 'owner_scope' order by schemaname, tablename`)
  if (!rows.length) throw new Error('no owner_scope policy found')
  for (const p of rows as { schemaname: string; tablename: string; qual: string }[]) {
    if (!IDENT.test(p.schemaname) || !IDENT.test(p.tablename)) throw new Error(`not a plain identifier: ${p.schemaname}.${p.tablename}`)
    const found = p.qual.split(from).length - 1
    if (found !== 1 || (from === PER_ROW && p.qual.includes(ONCE))) throw new Error(`owner_scope on ${p.schemaname}.${p.tablename}: the scope test is not there once as expected: ${p.qual}`)
    await knex.raw(`alter policy owner_scope on ${p.schemaname}.${p.tablename} using (${p.qual.replace(from, to)})`)
  }
}

export async function up(knex: Knex): Promise<void> {
  await rewrite(knex, PER_ROW, ONCE)
}

export async function down(knex: Knex): Promise<void> {
  await rewrite(knex, ONCE, PER_ROW)
}

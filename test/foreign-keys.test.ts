import t from 'tap'
import { setupTestEnv } from './helpers/app'

// Postgres checks a foreign key with the query below (ri_triggers.c), planned once per connection
// and kept while the referenced table's statistics stand still. On the migrated schema, whose tables
// were never analyzed (a new database; this machine runs with autovacuum off), every index of the
// referenced table that starts with `tenant_id` costs the same as the primary key, and the first one
// tried wins the tie: the tenant as index condition, the id as a filter, so each check reads every
// row of the tenant (migrations 20261227000010 and 20261228000010). Here every foreign key of the
// schema must be checked through the index of the key it references, with nothing filtered.
t.test('every foreign-key check reads the referenced key through its own index, on tables never analyzed', async (t) => {
  const env = await setupTestEnv(t)
  const { rows: keys } = await env.admin.raw(`
    select con.conname, con.conrelid::regclass::text as child, n.nspname as schema, cl.relname as parent,
           ix.relname as index, cl.reltuples,
           (select array_agg(a.attname::text order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
              join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as columns,
           (select array_agg(format_type(a.atttypid, a.atttypmod) order by k.ord) from unnest(con.confkey) with ordinality k(attnum, ord)
              join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.attnum) as types
      from pg_constraint con
      join pg_class cl on cl.oid = con.confrelid
      join pg_namespace n on n.oid = cl.relnamespace
      join pg_class ix on ix.oid = con.conindid
     where con.contype = 'f'
     order by cl.relname, con.conname`)
  t.ok(keys.length >= 90, `the schema's foreign keys (${keys.length})`)
  t.ok(keys.every((k: any) => Number(k.reltuples) < 0), 'no referenced table has been analyzed (the condition under test)')

  const scanOf = (plan: any, relation: string): any =>
    plan['Relation Name'] === relation ? plan : (plan.Plans ?? []).map((p: any) => scanOf(p, relation)).find(Boolean)
  const wrong: string[] = []
  await env.admin.transaction(async (trx) => {
    await trx.raw('set local plan_cache_mode = force_generic_plan')
    for (const k of keys) {
      const where = k.columns.map((c: string, i: number) => `"${c}" operator(pg_catalog.=) $${i + 1}`).join(' and ')
      await trx.raw(`prepare fk_check(${k.types.join(', ')}) as select 1 from only "${k.schema}"."${k.parent}" x where ${where} for key share of x`)
      const { rows } = await trx.raw(`explain (format json) execute fk_check(${k.types.map(() => 'null').join(', ')})`)
      await trx.raw('deallocate fk_check')
      const scan = scanOf(rows[0]['QUERY PLAN'][0].Plan, k.parent)
      if (scan?.['Index Name'] !== k.index || scan.Filter) {
        wrong.push(`${k.child} → ${k.parent} (${k.conname}): ${scan?.['Node Type']} ${scan?.['Index Name'] ?? ''}${scan?.Filter ? ` filter ${scan.Filter}` : ''}`)
      }
    }
  })
  t.same(wrong, [], 'each check uses the referenced key’s index')
})

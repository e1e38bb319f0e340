import t from 'tap'
import { randomUUID as newIdUuid } from 'node:crypto'
import knexFactory, { type Knex } from 'knex'
import { appDatabaseUrl } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { APP_ROLE, PLATFORM_TABLE_MARK } from '../core/kernel/db/migration-helpers'
import { withTenant } from '../core/kernel/db/tenant'
import { newId } from '../core/kernel/ids'
import { setupTestEnv } from './helpers/app'

/**
 * knex's own bookkeeping: the only tables exempt by name. Every other table that is not tenant data
 * (tenant_directory, platform_idempotency_keys, database_identity) must be declared a platform
 * table in the catalog (`platformTable()`: a comment starting with PLATFORM_TABLE_MARK and a reason)
 * and still enable and force RLS with explicit policies; the lint checks both.
 */
const EXEMPT = ['knex_migrations', 'knex_migrations_lock']

/** Tables declared platform tables by their comment (read from the catalog). */
async function platformTables(q: Knex | Knex.Transaction): Promise<string[]> {
  return (
    await q.raw(
      `select c.relname from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
          and starts_with(coalesce(obj_description(c.oid, 'pg_class'), ''), ?) order by 1`,
      [PLATFORM_TABLE_MARK],
    )
  ).rows.map((r: { relname: string }) => r.relname)
}

/** What `tenantRls()` creates, as PostgreSQL deparses it. */
const POLICY_EXPR = "(tenant_id = (NULLIF(current_setting('app.tenant_id'::text, true), ''::text))::uuid)"

type Findings = Record<string, string[]>

/**
 * Lints the catalog for the tenancy rules of ARCHITECTURE.md §3. Returns, per rule, one line per
 * offending object, starting with its name, so a failure says exactly what to fix. Works on a
 * transaction too (the self-test below lints uncommitted objects).
 */
async function lintCatalog(q: Knex | Knex.Transaction, appRole = APP_ROLE): Promise<Findings> {
  const rows = async <T>(sql: string, bindings: readonly unknown[] = []): Promise<T[]> => (await q.raw(sql, bindings as Knex.RawBinding[])).rows as T[]
  const platform = await platformTables(q)

  const tables = await rows<{ name: string; rls: boolean; force: boolean; first_col: string | null; first_type: string | null; first_notnull: boolean | null }>(
    `select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force,
            a.attname as first_col, format_type(a.atttypid, a.atttypmod) as first_type, a.attnotnull as first_notnull
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join lateral (
         select attname, atttypid, atttypmod, attnotnull from pg_attribute
          where attrelid = c.oid and attnum > 0 and not attisdropped order by attnum limit 1
       ) a on true
      where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> all (?)
      order by c.relname`,
    [[...EXEMPT, ...platform]],
  )
  const tableNames = tables.map((r) => r.name)

  const policies = await rows<{ table: string; name: string; cmd: string; permissive: boolean; public: boolean; qual: string | null; check: string | null }>(
    `select c.relname as table, p.polname as name, p.polcmd as cmd, p.polpermissive as permissive,
            p.polroles = '{0}'::oid[] as public,
            pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as check
       from pg_policy p join pg_class c on c.oid = p.polrelid
      where c.relname = any (?) and c.relnamespace = 'public'::regnamespace`,
    [tableNames],
  )

  // Unique and exclusion indexes (primary keys included): key columns only, INCLUDE columns do
  // not take part in uniqueness.
  const indexes = await rows<{ table: string; index: string; primary: boolean; has_tenant: boolean }>(
    `select c.relname as table, ic.relname as index, i.indisprimary as primary,
            exists (select 1 from pg_attribute a
                     where a.attrelid = i.indrelid and a.attname = 'tenant_id'
                       and a.attnum = any ((i.indkey::int2[])[0:i.indnkeyatts - 1])) as has_tenant
       from pg_index i
       join pg_class c on c.oid = i.indrelid
       join pg_class ic on ic.oid = i.indexrelid
      where (i.indisunique or i.indisexclusion) and c.relname = any (?) and c.relnamespace = 'public'::regnamespace
      order by c.relname, ic.relname`,
    [tableNames],
  )

  // A foreign key is tenant-scoped when tenant_id on this side pairs with tenant_id on the other.
  const foreignKeys = await rows<{ table: string; name: string; references: string; scoped: boolean }>(
    `select c.relname as table, k.conname as name, k.confrelid::regclass::text as references,
            exists (select 1 from unnest(k.conkey, k.confkey) as pair(l, r)
                      join pg_attribute la on la.attrelid = k.conrelid and la.attnum = pair.l
                      join pg_attribute ra on ra.attrelid = k.confrelid and ra.attnum = pair.r
                     where la.attname = 'tenant_id' and ra.attname = 'tenant_id') as scoped
       from pg_constraint k join pg_class c on c.oid = k.conrelid
      where k.contype = 'f' and c.relname = any (?) and c.relnamespace = 'public'::regnamespace
      order by c.relname, k.conname`,
    [tableNames],
  )

  const f: Findings = {
    'tenant_id uuid not null is the first column': [],
    'row level security enabled and forced': [],
    'exactly one tenant policy (USING and WITH CHECK on app.tenant_id)': [],
    'has a primary key': [],
    'every primary key, unique and exclusion constraint includes tenant_id': [],
    'every foreign key pairs tenant_id with tenant_id': [],
    'runtime role is not privileged': [],
    'runtime role owns nothing': [],
    'no SECURITY DEFINER function executable by the runtime role': [],
    'views are security_invoker; materialized views unreadable by the runtime role': [],
    'platform tables: declared with a reason, RLS enabled and forced, explicit policies': [],
  }

  // Platform tables (declared by comment): no tenant rules, but a reason, forced RLS and policies
  // that say who sees what; a policy letting everyone do everything is no policy.
  const declared = await rows<{ name: string; comment: string; rls: boolean; force: boolean }>(
    `select c.relname as name, obj_description(c.oid, 'pg_class') as comment, c.relrowsecurity as rls, c.relforcerowsecurity as force
       from pg_class c where c.relname = any (?) and c.relnamespace = 'public'::regnamespace order by 1`,
    [platform],
  )
  const platformPolicies = await rows<{ table: string; name: string; cmd: string; qual: string | null; check: string | null }>(
    `select c.relname as table, p.polname as name, p.polcmd as cmd,
            pg_get_expr(p.polqual, p.polrelid) as qual, pg_get_expr(p.polwithcheck, p.polrelid) as check
       from pg_policy p join pg_class c on c.oid = p.polrelid
      where c.relname = any (?) and c.relnamespace = 'public'::regnamespace`,
    [platform],
  )
  for (const d of declared) {
    const problems: string[] = []
    if (d.comment.slice(PLATFORM_TABLE_MARK.length).trim().length < 20) problems.push('no reason in its comment')
    if (!d.rls || !d.force) problems.push(`enable=${d.rls} force=${d.force}`)
    const mine = platformPolicies.filter((p) => p.table === d.name)
    if (!mine.length) problems.push('no policy')
    for (const p of mine) {
      if (p.cmd === '*' && (p.qual ?? 'true') === 'true' && (p.check ?? p.qual ?? 'true') === 'true') problems.push(`${p.name} allows everything`)
    }
    if (problems.length) f['platform tables: declared with a reason, RLS enabled and forced, explicit policies'].push(`${d.name}: ${problems.join('; ')}`)
  }

  for (const r of tables) {
    if (r.first_col !== 'tenant_id' || r.first_type !== 'uuid' || !r.first_notnull) {
      f['tenant_id uuid not null is the first column'].push(`${r.name}: first column is ${r.first_col ?? '(none)'} ${r.first_type ?? ''}${r.first_notnull ? ' not null' : ''}`)
    }
    if (!r.rls || !r.force) {
      f['row level security enabled and forced'].push(`${r.name}: enable=${r.rls} force=${r.force}`)
    }
    // Besides the tenant policy, a table of customer rows may have the restrictive `owner_scope`
    // policy (migration 20261201000010), which only ever narrows what a transaction sees by app.owners.
    const scope = policies.filter((p) => p.table === r.name && p.name === 'owner_scope' && !p.permissive && /current_setting\('app\.owners'/.test(p.qual ?? ''))
    const mine = policies.filter((p) => p.table === r.name && !scope.includes(p))
    const problems: string[] = []
    if (mine.length !== 1) problems.push(`${mine.length} policies (${mine.map((p) => p.name).join(', ') || 'none'})`)
    for (const p of mine) {
      if (p.cmd !== '*') problems.push(`${p.name} is FOR ${p.cmd}, not ALL`)
      if (!p.permissive) problems.push(`${p.name} is restrictive`)
      if (!p.public) problems.push(`${p.name} does not apply to every role`)
      if (p.qual !== POLICY_EXPR) problems.push(`${p.name} USING ${p.qual ?? '(none)'}`)
      if (p.check !== POLICY_EXPR) problems.push(`${p.name} WITH CHECK ${p.check ?? '(none)'}`)
    }
    if (problems.length) f['exactly one tenant policy (USING and WITH CHECK on app.tenant_id)'].push(`${r.name}: ${problems.join('; ')} (use tenantRls())`)
    if (!indexes.some((i) => i.table === r.name && i.primary)) f['has a primary key'].push(r.name)
  }
  for (const i of indexes) {
    if (!i.has_tenant) f['every primary key, unique and exclusion constraint includes tenant_id'].push(`${i.table}: ${i.index}`)
  }
  for (const k of foreignKeys) {
    if (!k.scoped) f['every foreign key pairs tenant_id with tenant_id'].push(`${k.table}: ${k.name} -> ${k.references}`)
  }

  const [role] = await rows<{ rolsuper: boolean; rolbypassrls: boolean; rolcreaterole: boolean; rolcreatedb: boolean }>(
    'select rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles where rolname = ?',
    [appRole],
  )
  if (!role) f['runtime role is not privileged'].push(`${appRole}: missing`)
  else {
    for (const [attr, on] of Object.entries(role)) if (on) f['runtime role is not privileged'].push(`${appRole}: ${attr}`)
    // Membership would let it SET ROLE to an owner (or a superuser) and step around RLS.
    const memberships = await rows<{ rolname: string }>(
      `select r.rolname from pg_roles r
        where r.rolname <> ? and pg_has_role(?, r.oid, 'MEMBER')
          and (r.rolsuper or r.rolbypassrls
               or exists (select 1 from pg_class c where c.relowner = r.oid and c.relnamespace = 'public'::regnamespace))`,
      [appRole, appRole],
    )
    for (const m of memberships) f['runtime role is not privileged'].push(`${appRole}: member of ${m.rolname}`)
  }

  const owned = await rows<{ what: string }>(
    `select format('%s %s', case c.relkind when 'r' then 'table' when 'p' then 'table' when 'v' then 'view' when 'm' then 'materialized view'
                                           when 'S' then 'sequence' when 'i' then 'index' else 'relation' end, c.oid::regclass) as what
       from pg_class c where c.relowner = (select oid from pg_roles where rolname = ?)
     union all
     select format('function %s', p.oid::regprocedure) from pg_proc p where p.proowner = (select oid from pg_roles where rolname = ?)
     union all
     select format('schema %s', n.nspname) from pg_namespace n where n.nspowner = (select oid from pg_roles where rolname = ?)
     union all
     select format('database %s', d.datname) from pg_database d
      where d.datname = current_database() and d.datdba = (select oid from pg_roles where rolname = ?)`,
    [appRole, appRole, appRole, appRole],
  )
  f['runtime role owns nothing'] = owned.map((o) => o.what)

  const definers = await rows<{ fn: string }>(
    `select p.oid::regprocedure::text as fn from pg_proc p
      where p.pronamespace = 'public'::regnamespace and p.prosecdef and has_function_privilege(?, p.oid, 'EXECUTE')`,
    [appRole],
  )
  f['no SECURITY DEFINER function executable by the runtime role'] = definers.map((d) => d.fn)

  const views = await rows<{ name: string; kind: string; invoker: boolean; readable: boolean }>(
    `select c.relname as name, c.relkind as kind,
            coalesce((select lower(split_part(o, '=', 2)) in ('true', 'on', 'yes', '1')
                        from unnest(c.reloptions) o where split_part(o, '=', 1) = 'security_invoker'), false) as invoker,
            has_table_privilege(?, c.oid, 'SELECT') as readable
       from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('v', 'm')
      order by c.relname`,
    [appRole],
  )
  for (const v of views) {
    if (v.kind === 'v' && !v.invoker) f['views are security_invoker; materialized views unreadable by the runtime role'].push(`${v.name}: view without security_invoker`)
    if (v.kind === 'm' && v.readable) f['views are security_invoker; materialized views unreadable by the runtime role'].push(`${v.name}: materialized view readable by ${appRole} (it has no RLS)`)
  }
  return f
}

t.test('row-level security', async (t) => {
  const env = await setupTestEnv(t, { DB_POOL_MAX: 2 })

  await t.test('the archive schema (retention) follows the same tenant rules; the runtime role only reads and appends', async (t) => {
    const tables: { name: string; rls: boolean; force: boolean; first_col: string; pk_has_tenant: boolean; policy: string | null; writable: boolean }[] = (
      await env.admin.raw(
        `select c.relname as name, c.relrowsecurity as rls, c.relforcerowsecurity as force,
                (select attname from pg_attribute where attrelid = c.oid and attnum = 1) as first_col,
                exists (select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey::int2[])
                         where i.indrelid = c.oid and i.indisprimary and a.attname = 'tenant_id') as pk_has_tenant,
                (select pg_get_expr(p.polqual, p.polrelid) from pg_policy p where p.polrelid = c.oid and p.polname = 'tenant_isolation') as policy,
                has_table_privilege(?, c.oid, 'UPDATE') or has_table_privilege(?, c.oid, 'DELETE') as writable
           from pg_class c where c.relnamespace = 'archive'::regnamespace and c.relkind in ('r', 'p') order by 1`,
        [APP_ROLE, APP_ROLE],
      )
    ).rows
    t.same(tables.map((r) => r.name), ['audit_log', 'communications', 'documents', 'events', 'notifications'])
    for (const r of tables) t.same(r, { ...r, rls: true, force: true, first_col: 'tenant_id', pk_has_tenant: true, policy: POLICY_EXPR, writable: false }, r.name)
  })

  await t.test('catalog lint', async (t) => {
    const tables: { relname: string }[] = (
      await env.admin.raw(`select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and relname <> all (?)`, [EXEMPT])
    ).rows
    t.ok(tables.length >= 7, `linting ${tables.length} tables: ${tables.map((r) => r.relname).sort().join(', ')}`)
    t.strictSame(await platformTables(env.admin), ['database_identity', 'platform_idempotency_keys', 'tenant_directory'], 'the platform tables are declared in the catalog')
    const findings = await lintCatalog(env.admin)
    for (const [rule, offenders] of Object.entries(findings)) t.strictSame(offenders, [], rule)
  })

  await t.test('the lint catches each kind of mistake, by name', async (t) => {
    const trx = await env.admin.transaction()
    try {
      await trx.raw(`create table zz_no_tenant (id text primary key, tenant_id uuid)`)
      await trx.raw(`create table zz_half_rls (tenant_id uuid not null, id text not null, customer_id text not null, primary key (tenant_id, id), unique (id), foreign key (tenant_id, customer_id) references customers (tenant_id, id))`)
      await trx.raw(`alter table zz_half_rls enable row level security`)
      await trx.raw(`create policy only_using on zz_half_rls for select using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)`)
      await trx.raw(`create table zz_loose_fk (tenant_id uuid not null, id text not null, customer_id text not null, primary key (tenant_id, id))`)
      await trx.raw(`create unique index zz_loose_fk_customer on zz_loose_fk (customer_id) include (tenant_id)`)
      await trx.raw(`alter table zz_loose_fk add foreign key (tenant_id, customer_id) references customers (tenant_id, id)`)
      await trx.raw(`alter table zz_loose_fk enable row level security`)
      await trx.raw(`alter table zz_loose_fk force row level security`)
      await trx.raw(`create policy a on zz_loose_fk using (true) with check (true)`)
      await trx.raw(`create table zz_owned (tenant_id uuid not null, id text not null, primary key (tenant_id, id))`)
      await trx.raw(`alter table zz_owned owner to ${APP_ROLE}`)
      await trx.raw(`create view zz_view as select tenant_id, id from customers`)
      await trx.raw(`create function zz_definer() returns int language sql security definer as 'select 1'`)
      // Platform tables: an undeclared one is linted as tenant data; declared ones need RLS and a real policy.
      await trx.raw(`create table zz_undeclared (id text primary key)`)
      await trx.raw(`create table zz_platform_open (id text primary key)`)
      await trx.raw(`comment on table zz_platform_open is '${PLATFORM_TABLE_MARK} a lookup of nothing in particular, for the self-test'`)
      await trx.raw(`create table zz_platform_lax (id text primary key)`)
      await trx.raw(`alter table zz_platform_lax enable row level security`)
      await trx.raw(`alter table zz_platform_lax force row level security`)
      await trx.raw(`create policy anything on zz_platform_lax using (true) with check (true)`)
      await trx.raw(`comment on table zz_platform_lax is '${PLATFORM_TABLE_MARK} why'`)

      const f = await lintCatalog(trx)
      const has = (rule: string, re: RegExp) => t.ok(f[rule].some((line) => re.test(line)), `${rule}: ${re} in ${JSON.stringify(f[rule])}`)
      has('tenant_id uuid not null is the first column', /^zz_no_tenant: first column is id/)
      has('row level security enabled and forced', /^zz_no_tenant: enable=false force=false/)
      has('row level security enabled and forced', /^zz_half_rls: enable=true force=false/)
      has('exactly one tenant policy (USING and WITH CHECK on app.tenant_id)', /^zz_no_tenant: 0 policies/)
      has('exactly one tenant policy (USING and WITH CHECK on app.tenant_id)', /^zz_half_rls: .*FOR r, not ALL.*WITH CHECK \(none\)/)
      has('exactly one tenant policy (USING and WITH CHECK on app.tenant_id)', /^zz_loose_fk: a USING true/)
      has('every primary key, unique and exclusion constraint includes tenant_id', /^zz_no_tenant: zz_no_tenant_pkey$/)
      has('every primary key, unique and exclusion constraint includes tenant_id', /^zz_half_rls: zz_half_rls_id_key$/)
      has('every primary key, unique and exclusion constraint includes tenant_id', /^zz_loose_fk: zz_loose_fk_customer$/)
      has('runtime role owns nothing', /^table zz_owned$/)
      has('no SECURITY DEFINER function executable by the runtime role', /^zz_definer\(\)$/)
      has('views are security_invoker; materialized views unreadable by the runtime role', /^zz_view: view without security_invoker/)
      has('tenant_id uuid not null is the first column', /^zz_undeclared: first column is id/)
      has('row level security enabled and forced', /^zz_undeclared: enable=false/)
      const platformRule = 'platform tables: declared with a reason, RLS enabled and forced, explicit policies'
      has(platformRule, /^zz_platform_open: enable=false force=false; no policy$/)
      has(platformRule, /^zz_platform_lax: no reason in its comment; anything allows everything$/)
      t.notOk(Object.values(f).flat().some((line) => /^zz_platform/.test(line) && !f[platformRule].includes(line)), 'declared tables are not linted as tenant tables')
      t.notOk(Object.values(f).flat().some((line) => /^(customers|tenants|api_keys|tenant_directory|platform_idempotency_keys|database_identity)\b/.test(line)), 'correct tables are not reported')

      // A foreign key that does not pair tenant_id with tenant_id.
      await trx.raw(`create table zz_cross (tenant_id uuid not null, id text not null, other_tenant uuid not null, customer_id text not null, primary key (tenant_id, id),
                       foreign key (other_tenant, customer_id) references customers (tenant_id, id))`)
      const f2 = await lintCatalog(trx)
      t.ok(f2['every foreign key pairs tenant_id with tenant_id'].some((l) => /^zz_cross: .* -> customers$/.test(l)), JSON.stringify(f2['every foreign key pairs tenant_id with tenant_id']))
      t.notOk(f2['every foreign key pairs tenant_id with tenant_id'].some((l) => l.startsWith('zz_half_rls') || l.startsWith('zz_loose_fk')), 'tenant-paired keys pass')
    } finally {
      await trx.rollback()
    }
  })

  // Two tenants with customers, written by the runtime role inside their own tenant transactions.
  const tenants = [await env.tenant({ name: 'Tenant A' }), await env.tenant({ name: 'Tenant B' })]
  const customerIds = new Map<string, string[]>()
  const keyIds = new Map<string, string[]>()
  for (const [n, tenant] of tenants.entries()) {
    await env.key(tenant.key, 'accountant')
    const ids = Array.from({ length: 3 + n }, () => newId('cus'))
    await withTenant(env.db, tenant.uuid, async (trx) => {
      await trx('customers').insert(ids.map((id, i) => ({ tenant_id: tenant.uuid, id, name: `${tenant.uuid} customer ${i}`, currency: 'usd' })))
      await trx('customer_balances').insert(ids.map((id) => ({ tenant_id: tenant.uuid, customer_id: id, currency: 'usd' })))
    })
    customerIds.set(tenant.uuid, ids.sort())
    const keys: { id: string }[] = await env.admin('api_keys').where({ tenant_id: tenant.uuid }).select('id')
    keyIds.set(tenant.uuid, keys.map((k) => k.id).sort())
  }

  await t.test('tenant context under pooling: 1,000 interleaved requests on 2 connections', async (t) => {
    const pids = new Set<number>()
    const leaks: string[] = []
    let direct = 0
    let http = 0
    // 64 in flight at a time (the pool is 2): as interleaved as all 1,000 at once, without the last
    // ones queueing for the pool past its acquire timeout on a slow machine or through PgBouncer.
    let nextRequest = 0
    const run = async (i: number) => {
      const me = tenants[i % 2]
      if (i % 4 < 2) {
        // No tenant filter on purpose: RLS alone must scope the rows.
        const { customers, balances, pid } = await withTenant(env.db, me.uuid, async (trx) => ({
          customers: (await trx('customers').select('tenant_id', 'id', 'name')) as { tenant_id: string; id: string; name: string }[],
          balances: (await trx('customer_balances').select('tenant_id', 'customer_id')) as { tenant_id: string }[],
          pid: (await trx.raw('select pg_backend_pid() as pid')).rows[0].pid as number,
        }))
        pids.add(pid)
        direct++
        const ids = customers.map((c) => c.id).sort()
        if (customers.some((c) => c.tenant_id !== me.uuid || !c.name.startsWith(me.uuid)) || balances.some((b) => b.tenant_id !== me.uuid)) {
          leaks.push(`request ${i} (${me.uuid}): saw ${JSON.stringify(customers)}`)
        } else if (JSON.stringify(ids) !== JSON.stringify(customerIds.get(me.uuid)) || balances.length !== ids.length) {
          leaks.push(`request ${i} (${me.uuid}): wrong rows ${ids.join(',')}`)
        }
      } else {
        const res = await env.app.inject({ method: 'GET', url: '/v1/api-keys?limit=100', headers: { authorization: `Bearer ${me.key}` } })
        http++
        if (res.statusCode !== 200) return void leaks.push(`request ${i}: HTTP ${res.statusCode} ${res.body}`)
        const ids = (res.json().data as { id: string }[]).map((k) => k.id).sort()
        if (JSON.stringify(ids) !== JSON.stringify(keyIds.get(me.uuid))) leaks.push(`request ${i} (${me.uuid}): keys ${ids.join(',')}`)
      }
    }
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (nextRequest < 1000) await run(nextRequest++)
      }),
    )
    t.equal(direct, 500)
    t.equal(http, 500)
    t.strictSame(leaks, [], 'no request saw another tenant’s rows, or missed its own')
    t.ok(pids.size >= 1 && pids.size <= 2, `all on the pool's connections (${pids.size})`)

    // The same pooled connections, now outside any tenant transaction, see nothing at all.
    const plain = await Promise.all(Array.from({ length: 4 }, () => env.db('customers').select()))
    t.strictSame(plain.map((rows) => rows.length), [0, 0, 0, 0], 'a query outside withTenant returns no rows')
  })

  await t.test('without tenant context every tenant table is empty to the runtime role', async (t) => {
    const tables: string[] = (
      await env.admin.raw(`select relname from pg_class where relnamespace = 'public'::regnamespace and relkind in ('r', 'p') and relname <> all (?) order by 1`, [
        [...EXEMPT, ...(await platformTables(env.admin))],
      ])
    ).rows.map((r: { relname: string }) => r.relname)
    for (const table of tables) {
      const rows = await env.db(table).select().limit(1).catch((err) => (err.code === '42501' ? [] : Promise.reject(err)))
      t.equal(rows.length, 0, table)
    }
    t.ok(Number((await env.admin('customers').count({ n: '*' }).first())!.n) > 0, 'while the data is there')
  })

  await t.test('WITH CHECK refuses writes into another tenant', async (t) => {
    const [a, b] = tenants
    await t.rejects(
      withTenant(env.db, a.uuid, (trx) => trx('customers').insert({ tenant_id: b.uuid, id: newId('cus'), name: 'Smuggled', currency: 'usd' })),
      { code: '42501', message: /new row violates row-level security policy for table "customers"/ },
      'insert with the other tenant_id',
    )
    const victim = customerIds.get(b.uuid)![0]
    const mine = customerIds.get(a.uuid)![0]
    await t.rejects(
      withTenant(env.db, a.uuid, (trx) => trx('customers').where({ id: mine }).update({ tenant_id: b.uuid })),
      { code: '42501', message: /row-level security/ },
      'moving a row to the other tenant',
    )
    const touched = await withTenant(env.db, a.uuid, async (trx) => ({
      updated: await trx('customers').where({ tenant_id: b.uuid, id: victim }).update({ name: 'Hijacked' }),
      deleted: await trx('customer_balances').where({ tenant_id: b.uuid }).delete(),
    }))
    t.strictSame(touched, { updated: 0, deleted: 0 }, "the other tenant's rows cannot be updated or deleted")
    t.match((await env.admin('customers').where({ id: victim }).first()).name, new RegExp(`^${b.uuid} customer \\d$`))
    t.equal(Number((await env.admin('customers').where({ name: 'Smuggled' }).count({ n: '*' }).first())!.n), 0)
  })

  await t.test('set_config is transaction-local: nothing stays on the pooled connection', async (t) => {
    const one = createDb(appDatabaseUrl(env.config), { poolMax: 1, preparedStatements: env.config.DB_PREPARED_STATEMENTS })
    t.teardown(() => one.destroy())
    const probe = "select pg_backend_pid() as pid, current_setting('app.tenant_id', true) as tenant, (select count(*) from customers)::int as visible"
    const [a] = tenants
    const inside = (await withTenant(one, a.uuid, (trx) => trx.raw(probe))).rows[0]
    t.equal(inside.tenant, a.uuid)
    t.equal(inside.visible, customerIds.get(a.uuid)!.length)
    const after = (await one.raw(probe)).rows[0]
    t.equal(after.pid, inside.pid, 'the same connection')
    t.notOk(after.tenant, `app.tenant_id is empty afterwards (${JSON.stringify(after.tenant)})`)
    t.equal(after.visible, 0)

    await t.rejects(
      withTenant(one, a.uuid, async (trx) => {
        await trx.raw('select 1')
        throw new Error('rolled back')
      }),
      /rolled back/,
    )
    const afterRollback = (await one.raw(probe)).rows[0]
    t.equal(afterRollback.pid, inside.pid)
    t.notOk(afterRollback.tenant, 'and after a rollback')
    t.equal(afterRollback.visible, 0)
  })

  await t.test('the tenant scope travels with BEGIN, in one round trip; owners are escaped; other instances still get it', async (t) => {
    const one = createDb(appDatabaseUrl(env.config), { poolMax: 1, preparedStatements: env.config.DB_PREPARED_STATEMENTS })
    const plain = knexFactory({ client: 'pg', connection: appDatabaseUrl(env.config), pool: { min: 0, max: 1 } })
    t.teardown(() => Promise.all([one.destroy(), plain.destroy()]))
    const [a] = tenants
    const sent: string[] = []
    one.on('query', (q: { sql: string }) => sent.push(q.sql))
    // No owners reads as null or as '' depending on the session's history; both mean unscoped (the policies coalesce).
    const probe = "select current_setting('app.tenant_id', true) as tenant, coalesce(current_setting('app.owners', true), '') as owners, (select count(*) from customers)::int as visible"
    const inside = (await withTenant(one, a.uuid, (trx) => trx.raw(probe))).rows[0]
    t.strictSame(inside, { tenant: a.uuid, owners: '', visible: customerIds.get(a.uuid)!.length })
    t.strictSame(sent, [`BEGIN; select set_config('app.tenant_id', '${a.uuid}', true)`, probe, 'COMMIT;'], 'three round trips: BEGIN with the scope, the work, COMMIT')

    // A user label may hold a quote: it is a value, never SQL.
    const owners = ['key_1', "o'brien; drop table customers; --"]
    const scoped = (await withTenant(one, a.uuid, (trx) => trx.raw(probe), { owners })).rows[0]
    t.equal(scoped.tenant, a.uuid)
    t.equal(scoped.owners, owners.join(','), 'the owners arrive as written')
    t.equal(scoped.visible, 0, 'and scope the rows (no customer of theirs)')

    // A knex instance not made by createDb cannot send statements with BEGIN: the scope is the first statement instead.
    const other = (await withTenant(plain, a.uuid, (trx) => trx.raw(probe))).rows[0]
    t.strictSame(other, { tenant: a.uuid, owners: '', visible: customerIds.get(a.uuid)!.length })
    // And a savepoint inside a tenant transaction (no BEGIN of its own) still sets the scope it is given.
    const b = tenants[1]
    const nested = (await withTenant(one, a.uuid, (trx) => withTenant(trx as unknown as typeof one, b.uuid, (inner) => inner.raw(probe)))).rows[0]
    t.strictSame(nested, { tenant: b.uuid, owners: '', visible: customerIds.get(b.uuid)!.length }, 'the savepoint sees its own tenant')
  })

  await t.test('platform tables: what the runtime role may do is what their policies say', async (t) => {
    const [a, b] = tenants
    const directory = (await env.db('tenant_directory').select('tenant_id')).map((r: { tenant_id: string }) => r.tenant_id)
    t.ok(directory.includes(a.uuid) && directory.includes(b.uuid), 'tenant_directory is readable across tenants, without tenant context')
    await t.rejects(
      withTenant(env.db, a.uuid, (trx) => trx('tenant_directory').insert({ tenant_id: newIdUuid() })),
      { code: '42501', message: /row-level security/ },
      'a tenant transaction cannot add another tenant to the directory',
    )
    await t.rejects(env.db('tenant_directory').where({ tenant_id: a.uuid }).delete(), { code: '42501' }, 'nor delete from it')
    t.equal((await env.db('database_identity').select()).length, 1, 'database_identity: one row, readable')
    await t.rejects(env.db('database_identity').update({ id: newIdUuid() }), { code: '42501' }, 'and read-only')
    await env.admin.raw(`insert into platform_idempotency_keys (key, request_hash, method, path, status_code, sealed_response, expires_at)
                         values ('rls-probe', 'h', 'POST', '/v1/tenants', 201, 'x', now() + interval '1 hour')`)
    t.equal((await withTenant(env.db, a.uuid, (trx) => trx('platform_idempotency_keys').select())).length, 0, 'platform keys are invisible to tenant work')
    const seen = await env.db.transaction(async (trx) => {
      await trx.raw(`select set_config('app.platform', 'on', true)`)
      return trx('platform_idempotency_keys').where({ key: 'rls-probe' }).select()
    })
    t.equal(seen.length, 1, 'and visible to platform work')
  })
})

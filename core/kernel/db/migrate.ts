import { readdir } from 'node:fs/promises'
import path from 'node:path'
import pg from 'pg'
import { createDb } from './knex'
import { APP_ROLE, OWNER_ROLE } from './migration-helpers'

export const MIGRATIONS_DIR = path.join(__dirname, '..', '..', '..', 'migrations')

/** The migration files of this process: the sources (`.ts`, under tsx) or the build (`.js`, dist/). */
async function migrationFiles(): Promise<string[]> {
  return (await readdir(MIGRATIONS_DIR)).filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts')).sort()
}

/** A migration's name in knex_migrations: its source file's, so the sources and the build agree on what ran. */
function migrationName(file: string): string {
  return file.replace(/\.js$/, '.ts')
}

/** Migrations for knex, named by their sources whichever files this process runs. */
const migrationSource = {
  getMigrations: migrationFiles,
  getMigrationName: migrationName,
  getMigration: (file: string) => import(path.join(MIGRATIONS_DIR, file)),
}

function quoteLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

/** Creates the database named by `url` when it does not exist yet (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url)
  const dbName = decodeURIComponent(target.pathname.slice(1))
  const admin = new URL(url)
  admin.pathname = '/postgres'
  const client = new pg.Client({ connectionString: admin.toString() })
  await client.connect()
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [dbName])
    if (!rowCount) {
      try {
        await client.query(`create database "${dbName.replace(/"/g, '""')}"`)
      } catch (err) {
        if ((err as { code?: string }).code !== '42P04') throw err // created concurrently
      }
    }
  } finally {
    await client.end()
  }
}

/**
 * Roles and grants that must exist before any migration: the owner role (owns every table, never
 * logs in) and the runtime role (logs in, owns nothing, cannot bypass RLS). Idempotent.
 */
export async function bootstrapRoles(url: string, appPassword: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    // Roles are cluster-wide; serialize concurrent bootstraps of several databases.
    await client.query(`select pg_advisory_lock(hashtext('receivables:bootstrap_roles'))`)
    await client.query(`
      do $$ begin
        if not exists (select 1 from pg_roles where rolname = '${OWNER_ROLE}') then
          create role ${OWNER_ROLE} nologin;
        end if;
        if not exists (select 1 from pg_roles where rolname = '${APP_ROLE}') then
          create role ${APP_ROLE} login;
        end if;
      end $$`)
    await client.query(`alter role ${APP_ROLE} login nosuperuser nobypassrls nocreatedb nocreaterole noinherit password ${quoteLiteral(appPassword)}`)
    await client.query(`alter role ${OWNER_ROLE} nologin nosuperuser nobypassrls`)
    await client.query(`grant ${OWNER_ROLE} to current_user`).catch(() => undefined) // superusers need no grant
    const { rows } = await client.query('select current_database() as db')
    const db = `"${String(rows[0].db).replace(/"/g, '""')}"`
    await client.query(`grant connect, temporary on database ${db} to ${APP_ROLE}`)
    await client.query(`grant usage, create on schema public to ${OWNER_ROLE}`)
    await client.query(`grant usage on schema public to ${APP_ROLE}`)
    await client.query(`revoke create on schema public from public`)
    // Retention's archive (migration 20261221000010_retention): owned by the owner role like public's tables.
    await client.query(`create schema if not exists archive authorization ${OWNER_ROLE}`)
    await client.query(`grant usage on schema archive to ${APP_ROLE}`)
    // Trusted extension (PG13+): period ranges use an exclusion constraint on (tenant_id, daterange).
    await client.query(`create extension if not exists btree_gist`)
    // Trusted too: similar customer names (GET /v1/customers/duplicates) by trigram similarity.
    await client.query(`create extension if not exists pg_trgm`)
    await client.query(`alter default privileges for role ${OWNER_ROLE} in schema public grant select, insert, update, delete on tables to ${APP_ROLE}`)
    await client.query(`alter default privileges for role ${OWNER_ROLE} in schema public grant usage, select on sequences to ${APP_ROLE}`)
    await client.query(`alter default privileges for role ${OWNER_ROLE} in schema public grant execute on functions to ${APP_ROLE}`)
    await client.query(`select pg_advisory_unlock(hashtext('receivables:bootstrap_roles'))`)
  } finally {
    await client.end()
  }
}

/** Creates the database and roles when missing, then applies every pending migration as the owner role. */
export async function migrate(url: string, appPassword: string, log: (msg: string) => void = () => {}): Promise<string[]> {
  await ensureDatabase(url)
  await bootstrapRoles(url, appPassword)
  const knex = createDb(url, { poolMax: 1, afterCreateSql: `set role ${OWNER_ROLE}` })
  try {
    const [, applied] = await knex.migrate.latest({ migrationSource })
    for (const name of applied as string[]) log(`migration applied: ${name}`)
    return applied as string[]
  } finally {
    await knex.destroy()
  }
}

/** Names of migrations on disk that the database has not applied (used by /ready). */
export async function pendingMigrations(db: import('knex').Knex): Promise<string[]> {
  const names = (await migrationFiles()).map(migrationName)
  const rows: { name: string }[] = await db('knex_migrations').select('name')
  const done = new Set(rows.map((r) => r.name))
  return names.filter((f) => !done.has(f))
}

if (require.main === module) {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { loadConfig } = require('../config') as typeof import('../config')
  const config = loadConfig()
  migrate(config.DATABASE_URL, config.DB_APP_PASSWORD, (m) => console.log(m))
    .then((applied) => {
      console.log(applied.length ? `${applied.length} migration(s) applied` : 'database is up to date')
    })
    .catch((err) => {
      console.error(err)
      process.exit(1)
    })
}

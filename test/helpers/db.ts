import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { migrate, MIGRATIONS_DIR } from '../../core/kernel/db/migrate'

export const ADMIN_URL = process.env.TEST_DATABASE_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
export const APP_PASSWORD = 'recv_app'

function urlFor(db: string): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${db}`
  return u.toString()
}

/** Template name follows the migrations' content, so a changed migration builds a new template. */
function templateName(): string {
  const h = createHash('sha256')
  for (const f of fs.readdirSync(MIGRATIONS_DIR).sort()) {
    h.update(f)
    h.update(fs.readFileSync(path.join(MIGRATIONS_DIR, f)))
  }
  for (const f of ['migrate.ts', 'migration-helpers.ts']) h.update(fs.readFileSync(path.join(__dirname, '../../core/kernel/db', f)))
  return `recv_tpl_${h.digest('hex').slice(0, 16)}`
}

async function withAdmin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: ADMIN_URL })
  await c.connect()
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

/**
 * A fresh database for one test file: `CREATE DATABASE … TEMPLATE` a migrated template that is
 * built once per migration set (under an advisory lock, so parallel files build it once).
 */
export async function createTestDatabase(): Promise<{ name: string; url: string; drop: () => Promise<void> }> {
  const tpl = templateName()
  const name = `recv_test_${randomBytes(6).toString('hex')}`
  await withAdmin(async (c) => {
    await c.query(`select pg_advisory_lock(hashtext('receivables:test_template'))`)
    try {
      const exists = await c.query('select 1 from pg_database where datname = $1', [tpl])
      if (!exists.rowCount) {
        const building = `${tpl}_build`
        await c.query(`drop database if exists ${building}`)
        await migrate(urlFor(building), APP_PASSWORD)
        await c.query(`alter database ${building} rename to ${tpl}`)
      }
      await c.query(`create database ${name} template ${tpl} strategy file_copy`)
    } finally {
      await c.query(`select pg_advisory_unlock(hashtext('receivables:test_template'))`)
    }
  })
  return {
    name,
    url: urlFor(name),
    drop: () => withAdmin((c) => c.query(`drop database if exists ${name} with (force)`).then(() => undefined)),
  }
}

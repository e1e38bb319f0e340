import { createHash } from 'node:crypto'
import knexFactory, { Knex } from 'knex'
import pg from 'pg'

// Money is bigint minor units; parse to a JS number (safe up to 2^53) and refuse anything larger
// rather than silently losing precision.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => {
  const n = Number(v)
  if (!Number.isSafeInteger(n)) throw new Error(`int8 value ${v} exceeds the safe integer range`)
  return n
})
// Accounting dates stay 'YYYY-MM-DD' strings: no timezone shifts.
pg.types.setTypeParser(pg.types.builtins.DATE, (v: string) => v)

export type Db = Knex
export type Trx = Knex.Transaction

export function createDb(url: string, opts: { poolMax?: number; poolMin?: number; afterCreateSql?: string } = {}): Db {
  return knexFactory({
    client: 'pg',
    connection: { connectionString: url, application_name: 'receivables' },
    pool: {
      min: opts.poolMin ?? 0,
      max: opts.poolMax ?? 10,
      ...(opts.afterCreateSql
        ? {
            afterCreate: (conn: pg.Client, done: (err: Error | null, conn: pg.Client) => void) => {
              conn.query(opts.afterCreateSql!).then(() => done(null, conn), (err: Error) => done(err, conn))
            },
          }
        : {}),
    },
    acquireConnectionTimeout: 10000,
  })
}

const statementNames = new Map<string, string>()

/**
 * Runs a hot statement as a named prepared statement. knex sends unnamed statements, which
 * Postgres parses, analyses and plans on every call (about a quarter of the database time of a
 * posting); a named one is parsed once per pooled connection and then only bound and executed.
 * The name is derived from the text, so one name can never stand for two texts. Use it only for
 * statements whose text is a program constant (never built from data), or the set of names grows.
 */
export function prepared(db: Knex | Trx, sql: string, bindings: readonly Knex.RawBinding[] | Knex.ValueDict) {
  let name = statementNames.get(sql)
  if (!name) statementNames.set(sql, (name = `q_${createHash('sha1').update(sql).digest('hex')}`))
  return db.raw(sql, bindings as Knex.ValueDict).options({ name })
}

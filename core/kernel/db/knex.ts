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

/** Configs of the knex instances created with `preparedStatements: false` (see `prepared()`). */
const unnamedConfigs = new WeakSet<object>()

export function createDb(
  url: string,
  opts: { poolMax?: number; poolMin?: number; afterCreateSql?: string; preparedStatements?: boolean } = {},
): Db {
  const db = knexFactory({
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
  // A transaction's client is a clone sharing this config object, so `prepared()` finds it there too.
  if (opts.preparedStatements === false) unnamedConfigs.add((db.client as { config: object }).config)
  sendStatementsWithBegin(db)
  return db
}

interface TransactionInternals {
  begin(conn: unknown): Promise<unknown>
  query(conn: unknown, sql: string): Promise<unknown>
}
interface ClientInternals {
  transaction(container: unknown, config: { beginWith?: string } | undefined, outerTx: unknown): TransactionInternals
}

/** Knex instances whose transactions take `beginWith` (see transactionBeginningWith). */
const beginWithClients = new WeakSet<object>()

/**
 * Lets transactions of `db` send statements with their BEGIN, in one simple-protocol message: one
 * round trip instead of two for a transaction that must first set something (a tenant transaction
 * scopes row-level security before anything else). Knex 3 builds every transaction with
 * `client.transaction(container, config)` and sends BEGIN from the transaction's `begin(conn)`
 * once a connection is acquired (always after an await, so replacing `begin` on the new
 * transaction is in time); this wraps that constructor on this instance only.
 */
function sendStatementsWithBegin(db: Knex): void {
  const client = db.client as unknown as ClientInternals
  const make = client.transaction
  client.transaction = function (this: ClientInternals, container, config, outerTx) {
    const trx = make.call(this, container, config, outerTx)
    const sql = config?.beginWith
    if (sql) trx.begin = (conn) => trx.query(conn, `BEGIN; ${sql}`)
    return trx
  }
  beginWithClients.add(db.client)
}

/**
 * A transaction whose BEGIN carries `sql` (statements with no parameters: values inlined with
 * pg.escapeLiteral) in the same round trip. On an instance not made by createDb, or inside a
 * transaction (a savepoint has no BEGIN), `sql` runs as the transaction's first statement instead.
 */
export function transactionBeginningWith<T>(db: Knex, sql: string, fn: (trx: Trx) => Promise<T>): Promise<T> {
  if (!(db as Trx).isTransaction && beginWithClients.has(db.client)) return db.transaction(fn, { beginWith: sql } as Knex.TransactionConfig)
  return db.transaction(async (trx) => {
    await trx.raw(sql)
    return fn(trx)
  })
}

/** Makes `prepared()` send unnamed statements on `db` (for instances not made by createDb). */
export function sendUnnamedStatements(db: Knex): void {
  unnamedConfigs.add((db.client as { config: object }).config)
}

/** Whether `prepared()` sends named statements on this instance (false behind a transaction pooler). */
export function usesNamedStatements(db: Knex | Trx): boolean {
  return !unnamedConfigs.has((db.client as { config: object }).config)
}

const statementNames = new Map<string, string>()

/**
 * Runs a hot statement as a named prepared statement. knex sends unnamed statements, which
 * Postgres parses, analyses and plans on every call (about a quarter of the database time of a
 * posting); a named one is parsed once per pooled connection and then only bound and executed.
 * The name is derived from the text, so one name can never stand for two texts. Use it only for
 * statements whose text is a program constant (never built from data), or the set of names grows.
 *
 * On an instance created with `preparedStatements: false` (DB_PREPARED_STATEMENTS=false) the
 * statement is sent unnamed, like any knex query: a pooler in transaction mode (PgBouncer before
 * 1.21) hands each transaction whichever server connection is free, where a statement named on
 * another one does not exist.
 */
export function prepared(db: Knex | Trx, sql: string, bindings: readonly Knex.RawBinding[] | Knex.ValueDict) {
  if (unnamedConfigs.has((db.client as { config: object }).config)) return db.raw(sql, bindings as Knex.ValueDict)
  let name = statementNames.get(sql)
  if (!name) statementNames.set(sql, (name = `q_${createHash('sha1').update(sql).digest('hex')}`))
  return db.raw(sql, bindings as Knex.ValueDict).options({ name })
}

/**
 * A set of writes to run as common table expressions of one statement: `ctes` is
 * `name as (insert …), name2 as (…)` with named bindings (`:name`). Names of CTEs and bindings are
 * prefixed by the module that owns the table, so writes of several modules can share a statement.
 */
export interface Write {
  ctes: string
  bindings: Record<string, Knex.Value>
}

/**
 * Runs writes of several modules in one statement (one round trip, one prepared statement per
 * combination). Data-modifying CTEs all run to completion, in one snapshot: a write may read
 * another's RETURNING rows, never its effects on the table.
 */
export async function runWrites(trx: Trx, writes: (Write | null)[]): Promise<void> {
  const parts = writes.filter((w): w is Write => w !== null)
  if (!parts.length) return
  const bindings: Record<string, Knex.Value> = {}
  for (const w of parts) {
    for (const [k, v] of Object.entries(w.bindings)) {
      if (k in bindings && bindings[k] !== v) throw new Error(`runWrites: binding :${k} given twice`)
      bindings[k] = v
    }
  }
  await prepared(trx, `with ${parts.map((w) => w.ctes).join(',\n')}\nselect 1`, bindings)
}

/**
 * Awaits queries one after another, in order, with their results as a tuple (like Promise.all).
 * Knex queries start when awaited, and a transaction is one connection, which runs one query at a
 * time anyway: handing it several at once only queues them inside pg, which pg deprecates.
 */
export async function inOrder<T extends readonly unknown[]>(queries: readonly [...T]): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results: unknown[] = []
  for (const q of queries) results.push(await q)
  return results as { -readonly [K in keyof T]: Awaited<T[K]> }
}

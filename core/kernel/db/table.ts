import type { Knex } from 'knex'
import type { Write } from './knex'

/**
 * One definition of a table's columns, from which its set-based writes are built: inserts and
 * updates of many rows in one statement read the rows from one JSON parameter
 * (`json_to_recordset`), and the column list, the record definition and the SQL types all come from
 * here, so a column cannot be spelled three times and dropped silently from one of them. Every
 * table is tenant-first: `tenant_id` is bound once per statement, never carried by the rows.
 */

export type SqlType = 'text' | 'bigint' | 'int' | 'smallint' | 'numeric' | 'date' | 'timestamptz' | 'boolean' | 'json' | 'jsonb'

export interface Table<Row> {
  name: string
  /** Column → SQL type, for every column a write may set (not tenant_id, not server defaults). */
  columns: { readonly [K in keyof Row & string]: SqlType }
  /** The row's key besides tenant_id. */
  key: readonly (keyof Row & string)[]
}

export function defineTable<Row>(name: string, columns: { readonly [K in keyof Row & string]: SqlType }, key: readonly (keyof Row & string)[]): Table<Row> {
  for (const k of key) if (!(k in columns)) throw new Error(`table ${name}: key column ${k} is not a column`)
  return { name, columns, key }
}

const IDENT = /^[a-z_][a-z0-9_]*$/

function ident(name: string): string {
  if (!IDENT.test(name)) throw new Error(`not a plain identifier: ${name}`)
  return name
}

/** The binding and CTE names of a table's writes (unique per table and column set in a statement). */
function tag(table: string, verb: string, cols: string[]): string {
  let h = 0
  for (const c of cols.join(',')) h = (h * 31 + c.charCodeAt(0)) | 0
  return `${verb}_${table}_${(h >>> 0).toString(36)}`
}

function recordset<Row>(table: Table<Row>, cols: string[], binding: string): string {
  return `json_to_recordset(:${binding}::json) as x(${cols.map((c) => `${ident(c)} ${table.columns[c as keyof Row & string]}`).join(', ')})`
}

/** The rows' columns, sorted (one statement text per column set); every row must set the same ones. */
function checkColumns<Row>(table: Table<Row>, rows: object[]): string[] {
  const cols = Object.keys(rows[0]).sort()
  for (const c of cols) if (!(c in table.columns)) throw new Error(`table ${table.name}: no column ${c} in its definition`)
  // Same count and each key among the first row's: the same set, without sorting every row's keys
  // (a batch writes thousands of rows).
  const set = new Set(cols)
  for (let i = 1; i < rows.length; i++) {
    const keys = Object.keys(rows[i])
    if (keys.length !== cols.length || !keys.every((k) => set.has(k))) throw new Error(`table ${table.name}: rows of one insert must set the same columns`)
  }
  return cols
}

/** Inserts rows (all setting the same columns) of one tenant in one statement, for runWrites. */
export function insertWrite<Row>(table: Table<Row>, tenantId: string, rows: Partial<Row>[]): Write | null {
  if (!rows.length) return null
  const cols = checkColumns(table, rows)
  const name = tag(table.name, 'ins', cols)
  return {
    ctes: `${name} as (
       insert into ${ident(table.name)} (tenant_id, ${cols.map(ident).join(', ')})
       select :${name}_tenant, ${cols.map((c) => `x.${c}`).join(', ')} from ${recordset(table, cols, name)}
     )`,
    bindings: { [`${name}_tenant`]: tenantId, [name]: JSON.stringify(rows) as Knex.Value },
  }
}

/**
 * Updates rows of one tenant by key in one statement, for runWrites: each row carries its key
 * columns and the columns it sets (all rows the same set). `touch` also sets `updated_at = now()`.
 */
export function updateWrite<Row>(table: Table<Row>, tenantId: string, rows: Partial<Row>[], opts: { touch?: boolean } = {}): Write | null {
  if (!rows.length) return null
  const cols = checkColumns(table, rows)
  const keys: readonly string[] = table.key
  for (const k of keys) if (!cols.includes(k)) throw new Error(`table ${table.name}: an update row needs its key column ${k}`)
  const set = cols.filter((c) => !keys.includes(c))
  if (!set.length) return null
  const name = tag(table.name, 'upd', cols)
  const assignments = [...set.map((c) => `${ident(c)} = x.${c}`), ...(opts.touch ? ['updated_at = now()'] : [])]
  return {
    ctes: `${name} as (
       update ${ident(table.name)} t set ${assignments.join(', ')}
         from ${recordset(table, cols, name)}
        where t.tenant_id = :${name}_tenant and ${keys.map((k) => `t.${ident(k)} = x.${k}`).join(' and ')}
     )`,
    bindings: { [`${name}_tenant`]: tenantId, [name]: JSON.stringify(rows) as Knex.Value },
  }
}

/** Several writes as one (for a module that writes more than one table). */
export function combineWrites(...writes: (Write | null)[]): Write | null {
  const parts = writes.filter((w): w is Write => w !== null)
  if (!parts.length) return null
  return { ctes: parts.map((w) => w.ctes).join(',\n'), bindings: Object.assign({}, ...parts.map((w) => w.bindings)) }
}

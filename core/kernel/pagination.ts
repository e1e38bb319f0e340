import type { Knex } from 'knex'
import { AppError } from './errors'
import { addDays } from './dates'

export const MAX_LIMIT = 100

const CURSOR = { type: 'string', pattern: '^[a-z]+_[0-9a-z]{1,40}$' } as const

export const RANGE_OPERATORS = { gte: '>=', gt: '>', lte: '<=', lt: '<' } as const
export type RangeOperator = keyof typeof RANGE_OPERATORS

/**
 * Range filters `field[gte]`, `field[gt]`, `field[lte]`, `field[lt]`. The names are flat: fastify's
 * query-string parser keeps the brackets in the key (`?created[gte]=2026-01-01` arrives as
 * `{ 'created[gte]': '2026-01-01' }`), so the schema lists each one.
 */
export function rangeProperties<F extends string>(field: F, kind: 'instant' | 'date') {
  const value =
    kind === 'date'
      ? { type: 'string', format: 'date', description: `Filter on ${field} (YYYY-MM-DD).` }
      : {
          type: 'string',
          anyOf: [{ format: 'date-time' }, { format: 'date' }],
          description: `Filter on ${field}: an instant (RFC 3339) or a date (YYYY-MM-DD, the UTC day: [gte] from its start, [lte] to its end).`,
        }
  return Object.fromEntries(Object.keys(RANGE_OPERATORS).map((op) => [`${field}[${op}]`, value])) as { [K in `${F}[${RangeOperator}]`]: typeof value }
}

/** Query-string properties every list route accepts. */
export const listQueryProperties = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 20 },
  starting_after: CURSOR,
  ending_before: { ...CURSOR, description: 'The page of items just before this id (newer ones); not with starting_after.' },
  ...rangeProperties('created', 'instant'),
} as const

export type RangeQuery<F extends string> = { [K in `${F}[${RangeOperator}]`]?: string }

export interface ListQuery extends RangeQuery<'created'> {
  limit?: number
  starting_after?: string
  ending_before?: string
}

export interface ListPage<T> {
  object: 'list'
  data: T[]
  has_more: boolean
}

/** Response schema of a list of `item`. */
export function listSchema(item: object) {
  return {
    type: 'object',
    properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: item }, has_more: { type: 'boolean' } },
    required: ['object', 'data', 'has_more'],
  }
}

const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v)

/**
 * Applies `field[op]` filters of `q` to `column`. On an instant column a date stands for its UTC
 * day: `[gte] D` from D's start, `[lte] D` to its end, `[gt] D` from the next day, `[lt] D` before D.
 */
export function applyRange(query: Knex.QueryBuilder, q: object, field: string, column: string, kind: 'instant' | 'date'): void {
  for (const op of Object.keys(RANGE_OPERATORS) as RangeOperator[]) {
    const v = (q as Record<string, unknown>)[`${field}[${op}]`]
    if (typeof v !== 'string') continue
    if (kind === 'instant' && isDate(v)) {
      const start = `${v}T00:00:00Z`
      const next = `${addDays(v, 1)}T00:00:00Z`
      if (op === 'gte') query.where(column, '>=', start)
      else if (op === 'gt') query.where(column, '>=', next)
      else if (op === 'lte') query.where(column, '<', next)
      else query.where(column, '<', start)
    } else query.where(column, RANGE_OPERATORS[op], v)
  }
}

/** Refuses starting_after together with ending_before. */
export function assertOneCursor(q: ListQuery): void {
  if (q.starting_after && q.ending_before) {
    throw new AppError('validation_failed', 'Give starting_after or ending_before, not both.', { param: 'ending_before' })
  }
}

/**
 * Cursor pagination over sortable ids, newest first: `starting_after` returns the items that come
 * after that id in this order, `ending_before` the page just before it (still newest first;
 * `has_more`: more exist before that page). `created[...]` filters on the created_at column next
 * to `column` (null: the table has none). Reads one extra row to know whether more exist.
 */
export async function paginate<T extends { id: string }>(
  query: Knex.QueryBuilder,
  q: ListQuery,
  column = 'id',
  created: string | null = column.replace(/id$/, 'created_at'),
): Promise<{ rows: T[]; has_more: boolean }> {
  const { limit = 20, starting_after, ending_before } = q
  assertOneCursor(q)
  if (created) applyRange(query, q, 'created', created, 'instant')
  if (ending_before) {
    const rows = (await query.where(column, '>', ending_before).orderBy(column, 'asc').limit(limit + 1)) as T[]
    return { rows: rows.slice(0, limit).reverse(), has_more: rows.length > limit }
  }
  if (starting_after) query.where(column, '<', starting_after)
  const rows = (await query.orderBy(column, 'desc').limit(limit + 1)) as T[]
  return { rows: rows.slice(0, limit), has_more: rows.length > limit }
}

export function page<T>(data: T[], has_more: boolean): ListPage<T> {
  return { object: 'list', data, has_more }
}

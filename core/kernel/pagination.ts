import type { Knex } from 'knex'

export const MAX_LIMIT = 100

/** Query-string properties every list route accepts. */
export const listQueryProperties = {
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 20 },
  starting_after: { type: 'string', pattern: '^[a-z]+_[0-9a-z]{1,40}$' },
} as const

export interface ListQuery {
  limit?: number
  starting_after?: string
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

/**
 * Cursor pagination over sortable ids, newest first: `starting_after` returns the items that come
 * after that id in this order. Reads one extra row to know whether more exist.
 */
export async function paginate<T extends { id: string }>(
  query: Knex.QueryBuilder,
  { limit = 20, starting_after }: ListQuery,
  column = 'id',
): Promise<{ rows: T[]; has_more: boolean }> {
  if (starting_after) query.where(column, '<', starting_after)
  const rows = (await query.orderBy(column, 'desc').limit(limit + 1)) as T[]
  return { rows: rows.slice(0, limit), has_more: rows.length > limit }
}

export function page<T>(data: T[], has_more: boolean): ListPage<T> {
  return { object: 'list', data, has_more }
}

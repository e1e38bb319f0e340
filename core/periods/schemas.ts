import { dateSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { listQueryProperties, type ListQuery } from '../kernel/pagination'

export const PERIOD_TYPES = ['monthly', 'quarterly', 'yearly'] as const
export type PeriodType = (typeof PERIOD_TYPES)[number]
export const PERIOD_STATUSES = ['open', 'closed', 'locked'] as const
export type PeriodStatus = (typeof PERIOD_STATUSES)[number]

export interface CreatePeriodInput {
  start_date: string
  end_date: string
  type: PeriodType
}

export interface ListPeriodsQuery extends ListQuery {
  status?: PeriodStatus
}

export const createPeriodBody = {
  type: 'object',
  additionalProperties: false,
  required: ['start_date', 'end_date', 'type'],
  properties: {
    start_date: { ...dateSchema, description: 'First day of the month, quarter or year.' },
    end_date: { ...dateSchema, description: 'Last day of the same month, quarter or year (inclusive).' },
    type: { type: 'string', enum: [...PERIOD_TYPES] },
  },
} as const

export const reopenPeriodBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
} as const

export const periodParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('per') } },
} as const

export const listPeriodsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...listQueryProperties,
    starting_after: { type: 'string', pattern: idPattern('per') },
    status: { type: 'string', enum: [...PERIOD_STATUSES] },
  },
} as const

const nullableString = { type: ['string', 'null'] } as const

export const periodSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['period'] },
    type: { type: 'string', enum: [...PERIOD_TYPES] },
    start_date: { type: 'string' },
    end_date: { type: 'string' },
    status: { type: 'string', enum: [...PERIOD_STATUSES] },
    closed_at: nullableString,
    closed_by: nullableString,
    locked_at: nullableString,
    locked_by: nullableString,
    created: { type: 'string' },
  },
  required: ['id', 'object', 'type', 'start_date', 'end_date', 'status', 'closed_at', 'closed_by', 'locked_at', 'locked_by', 'created'],
} as const

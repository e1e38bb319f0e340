import { idPattern } from '../kernel/ids'
import { RETENTION_DATA_TYPES } from '../kernel/plugins/contract'

const ACTIONS = ['archive', 'anonymize', 'purge'] as const

export const policySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['data_type', 'retain_days', 'action', 'source'],
  properties: {
    data_type: { type: 'string', enum: [...RETENTION_DATA_TYPES] },
    retain_days: { type: 'integer' },
    action: { type: 'string', enum: [...ACTIONS] },
    source: { type: 'string', description: '`plugin:<name>` (the retention plugin default) or `tenant` (an override)' },
  },
} as const

export const policyListSchema = {
  type: 'object',
  required: ['object', 'data'],
  properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: policySchema } },
} as const

export const policyParams = {
  type: 'object',
  additionalProperties: false,
  required: ['data_type'],
  // Any string: an unknown data type is a 400 retention_data_type_unknown, not a schema error.
  properties: { data_type: { type: 'string', minLength: 1, maxLength: 64 } },
} as const

export const policyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['retain_days', 'action'],
  properties: {
    retain_days: { type: 'integer', minimum: 1, maximum: 36500 },
    action: { type: 'string', enum: [...ACTIONS] },
  },
} as const

const countsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: Object.fromEntries(RETENTION_DATA_TYPES.map((t) => [t, { type: 'integer' }])),
} as const

const policyItem = { type: 'object', properties: { data_type: { type: 'string' }, retain_days: { type: 'integer' }, action: { type: 'string' } } } as const

export const dryRunSchema = {
  type: 'object',
  required: ['object', 'as_of', 'counts', 'policies'],
  properties: {
    object: { type: 'string', enum: ['retention_dry_run'] },
    as_of: { type: 'string', format: 'date' },
    counts: { ...countsSchema, description: 'Rows a run would purge, archive or anonymize now, per data type' },
    policies: { type: 'array', items: policySchema },
  },
} as const

export const runSchema = {
  type: 'object',
  required: ['id', 'object', 'status', 'trigger', 'as_of', 'counts', 'skipped', 'policies', 'error', 'created', 'started', 'finished'],
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['retention_run'] },
    status: { type: 'string', enum: ['queued', 'running', 'completed', 'failed'] },
    trigger: { type: 'string', enum: ['manual', 'nightly'] },
    as_of: { type: 'string', format: 'date' },
    counts: { ...countsSchema, description: 'Rows purged, archived or anonymized so far, per data type' },
    skipped: { ...countsSchema, description: 'Soft-deleted customers past retention that were not anonymized (refused, or no anonymization step)' },
    policies: { type: 'array', items: policyItem },
    error: { type: ['string', 'null'] },
    created: { type: 'string', format: 'date-time' },
    started: { type: ['string', 'null'], format: 'date-time' },
    finished: { type: ['string', 'null'], format: 'date-time' },
  },
} as const

export const runParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('rtr') } },
} as const

export const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const

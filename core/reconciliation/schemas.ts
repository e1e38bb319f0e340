import { idPattern } from '../kernel/ids'
import { listQueryProperties, type ListQuery } from '../kernel/pagination'

export const RUN_STATUSES = ['queued', 'running', 'completed', 'failed'] as const
export type RunStatus = (typeof RUN_STATUSES)[number]
export const RUN_TRIGGERS = ['manual', 'nightly', 'period_close'] as const
export type RunTrigger = (typeof RUN_TRIGGERS)[number]

export interface ListRunsQuery extends ListQuery {
  status?: RunStatus
}

export const createRunBody = {
  type: 'object',
  additionalProperties: false,
  properties: {},
} as const

export const repairBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
} as const

export const runParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('rec') } },
} as const

export const listRunsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...listQueryProperties,
    starting_after: { type: 'string', pattern: idPattern('rec') },
    status: { type: 'string', enum: [...RUN_STATUSES] },
  },
} as const

const nullableString = { type: ['string', 'null'] } as const
const amountOrStatus = { type: ['integer', 'string'] } as const

export const discrepancySchema = {
  type: 'object',
  properties: {
    check: { type: 'string', description: 'The invariant: entry_balanced, currency_balanced, pending_balance, advance_balance, invoice_outstanding, invoice_status, reversal_exceeds_original.' },
    customer: nullableString,
    invoice: nullableString,
    entry: nullableString,
    transaction: nullableString,
    currency: nullableString,
    field: { type: 'string' },
    cached: amountOrStatus,
    ledger: amountOrStatus,
    difference: { type: ['integer', 'string', 'null'], description: 'cached − ledger in minor units (a decimal string past 2^53); null for a status.' },
  },
  required: ['check', 'customer', 'invoice', 'field', 'cached', 'ledger', 'difference'],
} as const

export const runSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['reconciliation'] },
    status: { type: 'string', enum: [...RUN_STATUSES] },
    trigger: { type: 'string', enum: [...RUN_TRIGGERS] },
    checked: { type: ['integer', 'null'], description: 'Customers, invoices and journal entries checked.' },
    discrepancy_count: { type: ['integer', 'null'] },
    discrepancies: { type: 'array', items: discrepancySchema, description: 'The first 1,000 discrepancies (discrepancy_count has them all).' },
    error: nullableString,
    created: { type: 'string' },
    started: nullableString,
    finished: nullableString,
    repaired: {
      type: ['object', 'null'],
      properties: { at: { type: 'string' }, by: nullableString, reason: { type: 'string' } },
    },
  },
  required: ['id', 'object', 'status', 'trigger', 'checked', 'discrepancy_count', 'discrepancies', 'error', 'created', 'started', 'finished', 'repaired'],
} as const

export const repairResultSchema = {
  type: 'object',
  properties: {
    ...runSchema.properties,
    changes: {
      type: 'array',
      description: 'What the repair rebuilt from the ledger.',
      items: {
        type: 'object',
        properties: {
          customer: { type: 'string' },
          invoice: nullableString,
          field: { type: 'string' },
          before: amountOrStatus,
          after: amountOrStatus,
        },
      },
    },
    unrepaired: { type: 'array', items: discrepancySchema, description: 'Discrepancies a cache rebuild cannot fix (in the ledger itself); they need a correcting entry.' },
  },
  required: [...runSchema.required, 'changes', 'unrepaired'],
} as const

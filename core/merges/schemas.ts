import { idPattern } from '../kernel/ids'

export const mergeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['into', 'reason'],
  properties: {
    into: { type: 'string', pattern: idPattern('cus'), description: 'The customer that takes over the open items and balances.' },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
  },
} as const

export interface MergeInput {
  into: string
  reason: string
}

const movedItem = {
  type: 'object',
  properties: { from: { type: 'string' }, to: { type: 'string' }, amount: { type: 'integer' } },
  required: ['from', 'to', 'amount'],
} as const

export const mergeSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['customer_merge'] },
    source: { type: 'string' },
    target: { type: 'string' },
    reason: { type: 'string' },
    journal_entry: { type: ['string', 'null'], description: 'The transfer entry (none when the source had nothing open).' },
    moved: {
      type: 'object',
      properties: {
        invoices: { type: 'array', items: movedItem, description: 'Each open invoice of the source and the debit note that carries it on the target (same due date).' },
        credits: { type: 'array', items: movedItem, description: 'Each unapplied payment or credit note of the source and the credit note that carries it on the target.' },
        pending_balance: { type: 'integer' },
        advance_balance: { type: 'integer' },
      },
      required: ['invoices', 'credits', 'pending_balance', 'advance_balance'],
    },
    created_by: { type: 'string' },
    created: { type: 'string' },
  },
  required: ['id', 'object', 'source', 'target', 'reason', 'journal_entry', 'moved', 'created_by', 'created'],
} as const

export const DUPLICATE_REASONS = ['same_email', 'same_phone', 'same_tax_id', 'similar_name', 'same_external_id'] as const

export const duplicatesSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['list'] },
    data: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          customers: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 2 },
          score: { type: 'integer', minimum: 0, maximum: 100 },
          reasons: { type: 'array', items: { type: 'string', enum: DUPLICATE_REASONS } },
        },
        required: ['customers', 'score', 'reasons'],
      },
    },
  },
  required: ['object', 'data'],
} as const

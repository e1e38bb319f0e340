import { dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { methodSchema, PaymentMethod, positiveAmountSchema, reasonSchema } from '../payments/schemas'

export const createRefundBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'amount', 'method', 'reason'],
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    amount: positiveAmountSchema,
    source: { type: 'string', pattern: '^(pay|cn)_[0-9a-z]{26}$', description: 'Refund from this payment or credit note (up to its unapplied amount); else from the oldest unapplied credit.' },
    method: methodSchema,
    reason: reasonSchema,
    refund_date: dateSchema,
    exchange_rate: { ...decimalSchema, description: "Foreign-currency customers: required without a source; defaults to the source's rate." },
  },
} as const

export interface CreateRefundInput {
  customer: string
  amount: number
  source?: string
  method: PaymentMethod
  reason: string
  refund_date?: string
  exchange_rate?: string | number
}

export const refundSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    customer: { type: 'string' },
    amount: { type: 'integer' },
    currency: { type: 'string' },
    exchange_rate: { type: 'string' },
    source: { type: ['string', 'null'] },
    source_type: { type: ['string', 'null'], enum: ['payment', 'credit_note', null] },
    sources: {
      type: 'array',
      description: 'The payments and credit notes whose unapplied credit was refunded: the named source, else the oldest first.',
      items: {
        type: 'object',
        properties: { source: { type: 'string' }, source_type: { type: 'string', enum: ['payment', 'credit_note'] }, amount: { type: 'integer' } },
      },
    },
    method: { type: 'string' },
    reason: { type: 'string' },
    refund_date: { type: 'string' },
    journal_entry: { type: 'string' },
    created: { type: 'string' },
  },
}

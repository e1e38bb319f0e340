import { dateSchema, decimalSchema, signedAmountSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'

export const createAdjustmentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'amount', 'reason'],
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    amount: { ...signedAmountSchema, not: { const: 0 }, description: 'Signed: positive = debit note (the customer owes more), negative = credit adjustment.' },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    posting_date: dateSchema,
    exchange_rate: { ...decimalSchema, description: 'Required for a foreign-currency customer.' },
  },
} as const

export interface CreateAdjustmentInput {
  customer: string
  amount: number
  reason: string
  posting_date?: string
  exchange_rate?: string | number
}

export const adjustmentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    customer: { type: 'string' },
    amount: { type: 'integer' },
    currency: { type: 'string' },
    reason: { type: 'string' },
    posting_date: { type: 'string' },
    debit_note: { type: ['string', 'null'], description: 'The invoice of kind debit_note (positive amounts).' },
    credit_note: { type: ['string', 'null'], description: 'The unapplied credit (negative amounts), allocatable and refundable.' },
    journal_entry: { type: 'string' },
    transaction: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
}

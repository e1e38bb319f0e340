import { amountSchema, dateSchema } from '../kernel/money'
import { transactionSchema } from '../ledger/schemas'

const reason = { type: 'string', minLength: 1, maxLength: 500 } as const

export const reverseTransactionBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: {
    amount: { ...amountSchema, minimum: 1, description: 'Partial reversal; omitted: everything that remains (its allocations are un-applied first).' },
    posting_date: { ...dateSchema, description: 'Default: the tenant’s today; must fall in an open period.' },
    reason,
  },
} as const

export interface ReverseTransactionInput {
  amount?: number
  posting_date?: string
  reason: string
}

export const voidBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { posting_date: reverseTransactionBody.properties.posting_date, reason },
} as const

export interface VoidInput {
  posting_date?: string
  reason: string
}

/** The reversal's own sub-ledger row, with the row it reversed (and what is left of it). */
export const reversalSchema = {
  type: 'object',
  properties: { ...transactionSchema.properties, reversed_transaction: transactionSchema },
}

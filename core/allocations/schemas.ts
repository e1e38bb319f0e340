import { idPattern } from '../kernel/ids'
import { allocationSchema as invoiceAllocationSchema } from '../invoices/schemas'

/** The allocation object, with the entry that un-applied it. */
export const allocationSchema = {
  ...invoiceAllocationSchema,
  properties: { ...invoiceAllocationSchema.properties, reversal_entry: { type: ['string', 'null'] } },
}

export const createAllocationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'invoice', 'amount'],
  properties: {
    source: { type: 'string', pattern: '^(pay|cn)_[0-9a-z]{26}$', description: 'The payment or credit note whose unapplied credit is applied.' },
    invoice: { type: 'string', pattern: idPattern('inv') },
    amount: { type: 'integer', minimum: 1, maximum: 900719925474099 },
  },
} as const

export interface CreateAllocationInput {
  source: string
  invoice: string
  amount: number
}

export const reverseAllocationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const

/** What can be a source of credit: a payment or a credit note. */
export type CreditSourceType = 'payment' | 'credit_note'

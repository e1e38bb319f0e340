import { withOptional } from '../kernel/schema'
import { amountSchema, dateSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'

export const createWriteOffBody = {
  type: 'object',
  additionalProperties: false,
  required: ['invoice', 'amount', 'reason'],
  properties: {
    invoice: { type: 'string', pattern: idPattern('inv') },
    amount: { ...amountSchema, minimum: 1 },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    posting_date: dateSchema,
  },
} as const

export interface CreateWriteOffInput {
  invoice: string
  amount: number
  reason: string
  posting_date?: string
}

export const writeOffSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    customer: { type: 'string' },
    invoice: { type: 'string' },
    payment: { type: ['string', 'null'] },
    amount: { type: 'integer' },
    currency: { type: 'string' },
    reason: { type: 'string' },
    posting_date: { type: 'string' },
    journal_entry: { type: 'string' },
    transaction: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
}, 'currency')

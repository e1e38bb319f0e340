import { dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { creditOverrideInput, invoiceLineInput, invoiceSchema, InvoiceLineInput } from '../invoices/schemas'
import { methodSchema, PaymentMethod, paymentSchema, positiveAmountSchema } from '../payments/schemas'

export const createSaleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'lines'],
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    lines: { type: 'array', minItems: 1, maxItems: 200, items: invoiceLineInput },
    payment: {
      type: 'object',
      additionalProperties: false,
      required: ['method', 'amount'],
      description: 'Paid at the till: applied to the sale’s invoice; anything above its total becomes advance.',
      properties: { method: methodSchema, amount: positiveAmountSchema, reference: { type: 'string', minLength: 1, maxLength: 200 } },
    },
    issue_date: dateSchema,
    exchange_rate: decimalSchema,
    memo: { type: 'string', maxLength: 2000 },
    credit_override: creditOverrideInput,
  },
} as const

export interface CreateSaleInput {
  customer: string
  lines: InvoiceLineInput[]
  payment?: { method: PaymentMethod; amount: number; reference?: string }
  issue_date?: string
  exchange_rate?: string | number
  memo?: string
  credit_override?: { reason: string }
}

export const cancelSaleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 }, posting_date: dateSchema },
} as const

export interface CancelSaleInput {
  reason: string
  posting_date?: string
}

export const saleSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    customer: { type: 'string' },
    invoice: invoiceSchema,
    payment: { ...paymentSchema, type: ['object', 'null'] },
    status: { type: 'string', enum: ['completed', 'cancelled'] },
    cancelled_at: { type: ['string', 'null'] },
    cancel_reason: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
}

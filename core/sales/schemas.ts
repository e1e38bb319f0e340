import { amountSchema, dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { documentRefInput, documentRefOutput, externalIdFilter, type Metadata } from '../kernel/metadata'
import type { ListQuery } from '../kernel/pagination'
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
      description:
        'Paid at the till, applied to the sale’s invoice. `amount` is what the customer handed over. When it is more than ' +
        'the invoice total the request must say what happens to the excess, else it is refused with 422 `overpayment`: ' +
        '`change_given` (cash only) is handed back and not posted, so the payment posted is `amount − change_given`, and it ' +
        'may not be more than the excess (422 `change_not_allowed`); `keep_as_credit: true` posts the (remaining) excess as ' +
        'the customer’s advance balance.',
      properties: {
        method: methodSchema,
        amount: positiveAmountSchema,
        reference: { type: 'string', minLength: 1, maxLength: 200 },
        change_given: { ...amountSchema, description: 'Cash handed back to the customer, in minor units; method `cash` only. Not posted.' },
        keep_as_credit: { type: 'boolean', description: 'Keep the amount paid above the total (after change) as advance balance.' },
      },
    },
    issue_date: dateSchema,
    exchange_rate: decimalSchema,
    memo: { type: 'string', maxLength: 2000 },
    credit_override: creditOverrideInput,
    ...documentRefInput,
  },
} as const

/** Filters of GET /v1/sales besides customer. */
export const saleFilterProperties = { external_id: externalIdFilter } as const

export type SaleListQuery = ListQuery & { customer?: string; external_id?: string }

export interface CreateSaleInput {
  customer: string
  lines: InvoiceLineInput[]
  payment?: { method: PaymentMethod; amount: number; reference?: string; change_given?: number; keep_as_credit?: boolean }
  issue_date?: string
  exchange_rate?: string | number
  memo?: string
  credit_override?: { reason: string }
  external_id?: string
  metadata?: Metadata
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
    tender: {
      type: ['object', 'null'],
      description: 'What was handed over at the till (null without a payment): the payment posted is `amount − change_given`.',
      properties: {
        method: methodSchema,
        amount: { type: 'integer' },
        change_given: { type: 'integer' },
        keep_as_credit: { type: 'boolean' },
      },
    },
    status: { type: 'string', enum: ['completed', 'cancelled'] },
    cancelled_at: { type: ['string', 'null'] },
    cancel_reason: { type: ['string', 'null'] },
    ...documentRefOutput,
    created: { type: 'string' },
  },
}

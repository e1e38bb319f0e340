import { amountSchema, currencySchema, dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { allocationSchema } from '../allocations/schemas'
import { documentRefInput, documentRefOutput, externalIdFilter, type Metadata } from '../kernel/metadata'
import { rangeProperties, type ListQuery, type RangeQuery } from '../kernel/pagination'

import { paymentMethodCodeSchema } from '../settings/schemas'

/** A code of the tenant's payment methods (GET /v1/settings), checked when the document is planned. */
export type PaymentMethod = string

export const positiveAmountSchema = { ...amountSchema, minimum: 1 } as const
export const methodSchema = paymentMethodCodeSchema
export const reasonSchema = { type: 'string', minLength: 1, maxLength: 500 } as const

/** Most invoices one payment settles: explicit lines, or auto-apply's oldest open invoices. */
export const MAX_PAYMENT_ALLOCATIONS = 200

export const createPaymentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'amount', 'method'],
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    amount: positiveAmountSchema,
    currency: currencySchema,
    received_date: dateSchema,
    method: methodSchema,
    reference: { type: 'string', minLength: 1, maxLength: 200 },
    exchange_rate: decimalSchema,
    allocations: {
      type: 'array',
      maxItems: MAX_PAYMENT_ALLOCATIONS,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['invoice', 'amount'],
        properties: { invoice: { type: 'string', pattern: idPattern('inv') }, amount: positiveAmountSchema },
      },
    },
    auto_apply: { type: 'boolean', description: 'Pay open invoices oldest due date first (then issue date, id); the rest becomes advance.' },
    write_off: {
      type: 'object',
      additionalProperties: false,
      required: ['amount', 'reason'],
      description: 'Short payment: write off this much of the single allocated invoice.',
      properties: { amount: positiveAmountSchema, reason: reasonSchema },
    },
    ...documentRefInput,
  },
} as const

/** Filters of GET /v1/payments besides customer. */
export const paymentFilterProperties = { ...rangeProperties('received_date', 'date'), external_id: externalIdFilter } as const

export type PaymentListQuery = ListQuery & RangeQuery<'received_date'> & { customer?: string; external_id?: string }

export interface CreatePaymentInput {
  customer: string
  amount: number
  currency?: string
  received_date?: string
  method: PaymentMethod
  reference?: string
  exchange_rate?: string | number
  allocations?: { invoice: string; amount: number }[]
  auto_apply?: boolean
  write_off?: { amount: number; reason: string }
  external_id?: string
  metadata?: Metadata
}

export const paymentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    customer: { type: 'string' },
    amount: { type: 'integer' },
    currency: { type: 'string' },
    exchange_rate: { type: 'string' },
    received_date: { type: 'string' },
    method: { type: 'string' },
    reference: { type: ['string', 'null'] },
    unapplied_amount: { type: 'integer' },
    status: { type: 'string', enum: ['succeeded', 'voided'] },
    sale: { type: ['string', 'null'] },
    allocations: { type: 'array', items: allocationSchema },
    write_off: {
      type: ['object', 'null'],
      properties: { id: { type: 'string' }, amount: { type: 'integer' }, invoice: { type: 'string' }, reason: { type: 'string' } },
    },
    journal_entry: { type: 'string' },
    ...documentRefOutput,
    voided_at: { type: ['string', 'null'] },
    void_reason: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
}

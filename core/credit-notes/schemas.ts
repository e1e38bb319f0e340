import { withOptional } from '../kernel/schema'
import { amountSchema, dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { quantityOutputSchema, quantitySchema } from '../kernel/quantity'
import { allocationSchema } from '../allocations/schemas'
import { documentRefInput, documentRefOutput, externalIdFilter, type Metadata } from '../kernel/metadata'
import { rangeProperties, type ListQuery, type RangeQuery } from '../kernel/pagination'

export const createCreditNoteBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'reason'],
  description: 'Give exactly one of `lines` (a return of invoice lines; needs `invoice`) or `amount` (net, no tax).',
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    invoice: { type: 'string', pattern: idPattern('inv') },
    lines: {
      type: 'array',
      minItems: 1,
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['invoice_line', 'quantity'],
        properties: {
          invoice_line: { type: 'integer', minimum: 1, maximum: 32767, description: 'line_no of the invoice line returned' },
          quantity: quantitySchema,
        },
      },
    },
    amount: { ...amountSchema, minimum: 1 },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    issue_date: dateSchema,
    exchange_rate: { ...decimalSchema, description: 'Only without an invoice, for a foreign-currency customer; otherwise the invoice rate applies.' },
    ...documentRefInput,
  },
} as const

/** Filters of GET /v1/credit-notes besides customer and invoice. */
export const creditNoteFilterProperties = { ...rangeProperties('issue_date', 'date'), external_id: externalIdFilter } as const

export type CreditNoteListQuery = ListQuery & RangeQuery<'issue_date'> & { customer?: string; invoice?: string; external_id?: string }

export interface CreateCreditNoteInput {
  customer: string
  invoice?: string
  lines?: { invoice_line: number; quantity: number | string }[]
  amount?: number
  reason: string
  issue_date?: string
  exchange_rate?: string | number
  external_id?: string
  metadata?: Metadata
}

export const creditNoteSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    number: { type: 'string' },
    customer: { type: 'string' },
    invoice: { type: ['string', 'null'] },
    currency: { type: 'string' },
    exchange_rate: { type: 'string' },
    subtotal: { type: 'integer' },
    tax: { type: 'integer' },
    amount: { type: 'integer' },
    unapplied_amount: { type: 'integer' },
    reason: { type: 'string' },
    status: { type: 'string', enum: ['issued', 'voided'] },
    issue_date: { type: 'string' },
    journal_entry: { type: 'string' },
    transaction: { type: ['string', 'null'] },
    ...documentRefOutput,
    voided_at: { type: ['string', 'null'] },
    void_reason: { type: ['string', 'null'] },
    created: { type: 'string' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          line_no: { type: 'integer' },
          invoice_line: { type: 'integer' },
          quantity: quantityOutputSchema,
          net_amount: { type: 'integer' },
          tax_amount: { type: 'integer' },
          cost_amount: { type: 'integer' },
        },
      },
    },
    allocations: { type: 'array', items: allocationSchema },
  },
}, 'allocations')

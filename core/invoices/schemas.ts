import { withOptional } from '../kernel/schema'
import { amountSchema, currencySchema, dateSchema, decimalSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { quantityOutputSchema, quantitySchema } from '../kernel/quantity'
import { documentRefInput, documentRefOutput, externalIdFilter, type Metadata } from '../kernel/metadata'
import { rangeProperties, type ListQuery, type RangeQuery } from '../kernel/pagination'

export const invoiceLineInput = {
  type: 'object',
  additionalProperties: false,
  required: ['description', 'quantity', 'unit_amount'],
  properties: {
    description: { type: 'string', minLength: 1, maxLength: 500 },
    quantity: quantitySchema,
    unit_amount: amountSchema,
    tax_rate: { ...decimalSchema, description: 'Decimal string, e.g. "0.2" for 20 %.' },
    unit_cost: { ...amountSchema, description: 'Cost per unit: posts COGS / Inventory.' },
    product_ref: { type: 'string', maxLength: 200 },
  },
} as const

export const creditOverrideInput = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
  description: 'Pass the credit-limit check (roles with the override permission only); audited.',
} as const

export const createInvoiceBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'lines'],
  properties: {
    customer: { type: 'string', pattern: idPattern('cus') },
    currency: currencySchema,
    issue_date: dateSchema,
    due_date: dateSchema,
    payment_terms_days: { type: 'integer', minimum: 0, maximum: 3650 },
    lines: { type: 'array', minItems: 1, maxItems: 200, items: invoiceLineInput },
    exchange_rate: decimalSchema,
    memo: { type: 'string', maxLength: 2000 },
    credit_override: creditOverrideInput,
    ...documentRefInput,
  },
} as const

/** Filters of GET /v1/invoices besides customer and status. */
export const invoiceFilterProperties = {
  ...rangeProperties('issue_date', 'date'),
  ...rangeProperties('due_date', 'date'),
  number: { type: 'string', minLength: 1, maxLength: 40, description: 'Exact invoice number.' },
  external_id: externalIdFilter,
  q: { type: 'string', minLength: 1, maxLength: 200, description: 'Prefix of the invoice number or of the external_id.' },
} as const

export type InvoiceListQuery = ListQuery &
  RangeQuery<'issue_date' | 'due_date'> & { customer?: string; status?: string; number?: string; external_id?: string; q?: string }

export interface InvoiceLineInput {
  description: string
  /** An integer or a decimal string with up to 3 places. */
  quantity: number | string
  unit_amount: number
  tax_rate?: string | number
  unit_cost?: number
  product_ref?: string
}

export interface CreateInvoiceInput {
  customer: string
  currency?: string
  issue_date?: string
  due_date?: string
  payment_terms_days?: number
  lines: InvoiceLineInput[]
  exchange_rate?: string | number
  memo?: string
  credit_override?: { reason: string }
  external_id?: string
  metadata?: Metadata
}

export const invoiceLineSchema = {
  type: 'object',
  properties: {
    line_no: { type: 'integer' },
    description: { type: 'string' },
    product_ref: { type: ['string', 'null'] },
    quantity: quantityOutputSchema,
    unit_amount: { type: 'integer' },
    tax_rate: { type: 'string' },
    unit_cost: { type: ['integer', 'null'] },
    net_amount: { type: 'integer' },
    tax_amount: { type: 'integer' },
    total: { type: 'integer' },
    returned_quantity: quantityOutputSchema,
  },
}

export const allocationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    source: { type: 'string' },
    source_type: { type: 'string' },
    invoice: { type: 'string' },
    customer: { type: 'string' },
    amount: { type: 'integer' },
    effective_date: { type: 'string' },
    status: { type: 'string', enum: ['applied', 'reversed'] },
    journal_entry: { type: ['string', 'null'] },
    reversed_at: { type: ['string', 'null'] },
    reverse_reason: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
}

export const invoiceSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    number: { type: 'string' },
    kind: { type: 'string', enum: ['invoice', 'debit_note'] },
    customer: { type: 'string' },
    currency: { type: 'string' },
    exchange_rate: { type: 'string' },
    issue_date: { type: 'string' },
    due_date: { type: 'string' },
    subtotal: { type: 'integer' },
    tax: { type: 'integer' },
    total: { type: 'integer' },
    total_base: { type: 'integer' },
    outstanding: { type: 'integer' },
    amount_paid: { type: 'integer', description: 'total − outstanding (paid, credited or written off)' },
    status: { type: 'string', enum: ['open', 'partially_paid', 'paid', 'void'] },
    memo: { type: ['string', 'null'] },
    sale: { type: ['string', 'null'] },
    journal_entry: { type: 'string' },
    credit_override_reason: { type: ['string', 'null'] },
    ...documentRefOutput,
    voided_at: { type: ['string', 'null'] },
    void_reason: { type: ['string', 'null'] },
    created: { type: 'string' },
    lines: { type: 'array', items: invoiceLineSchema },
    allocations: { type: 'array', items: allocationSchema },
  },
}, 'allocations')

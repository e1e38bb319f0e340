import { aggregateAmountSchema, dateSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'
import { transactionSchema } from '../ledger/schemas'

const bucketProperties = {
  current: { type: 'integer', description: 'dpd ≤ 0' },
  '1_30': { type: 'integer' },
  '31_60': { type: 'integer' },
  '61_90': { type: 'integer' },
  '90_plus': { type: 'integer', description: 'dpd ≥ 91' },
} as const

const bucketsSchema = { type: 'object', properties: bucketProperties, required: Object.keys(bucketProperties) } as const

/** Sums over many customers (the report's totals and its per-currency lines): exact, see aggregateAmountSchema. */
const sumBucketsSchema = {
  type: 'object',
  properties: Object.fromEntries(Object.keys(bucketProperties).map((k) => [k, aggregateAmountSchema])),
  required: Object.keys(bucketProperties),
} as const

const agedSums = {
  buckets: sumBucketsSchema,
  unapplied_credits: { ...aggregateAmountSchema, description: 'Credit not yet applied (positive).' },
  total: { ...aggregateAmountSchema, description: 'Σ buckets − unapplied_credits: the net receivable.' },
} as const

export const agingQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { as_of: { ...dateSchema, description: 'Default: the tenant’s today. Everything dated later is ignored.' } },
} as const

const agedAmounts = {
  buckets: bucketsSchema,
  unapplied_credits: { type: 'integer', description: 'Credit not yet applied (positive).' },
  total: { type: 'integer', description: 'Σ buckets − unapplied_credits: the net receivable.' },
} as const

const inBaseSchema = {
  type: 'object',
  description: 'The same amounts in the tenant’s base currency: each open invoice converted at its own exchange rate (round half up, per invoice), each unapplied credit at its document’s rate.',
  properties: agedAmounts,
} as const

export const agingSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['aging_report'] },
    as_of: { type: 'string' },
    currency: { type: 'string', description: 'Tenant base currency: `buckets`, `unapplied_credits` and `total` are in its minor units, every item converted at its document’s exchange rate.' },
    ...agedSums,
    currencies: {
      type: 'array',
      description: 'Breakdown per original currency (customers’ currencies, sorted), in that currency’s minor units, with `base` its share of the totals.',
      items: {
        type: 'object',
        properties: { currency: { type: 'string' }, ...agedSums, base: { ...inBaseSchema, properties: agedSums, description: 'This currency’s amounts in base currency.' } },
      },
    },
    customers: {
      type: 'array',
      items: {
        type: 'object',
        description: 'Amounts in the customer’s own currency (`currency`); `base` has them in base currency.',
        properties: {
          customer: { type: 'string' },
          name: { type: 'string' },
          currency: { type: 'string' },
          buckets: bucketsSchema,
          ...bucketProperties,
          unapplied_credits: { type: 'integer' },
          total: { type: 'integer' },
          base: { ...inBaseSchema, properties: { currency: { type: 'string' }, ...agedAmounts } },
        },
      },
    },
  },
} as const

const statementRange = {
  from: { ...dateSchema, description: 'Default: the first day of the month of `to`.' },
  to: { ...dateSchema, description: 'Default: the tenant’s today.' },
} as const

export const statementQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...statementRange,
    format: { type: 'string', enum: ['json', 'csv', 'pdf'], default: 'json', description: '`csv` and `pdf`: prefer the …/statement/csv and …/statement/pdf operations.' },
  },
} as const

/** The statement's range, for the CSV and PDF operations (their format is in the path). */
export const statementRangeQuery = { type: 'object', additionalProperties: false, properties: statementRange } as const

export const statementParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('cus') } },
} as const

export const statementSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['statement'] },
    customer: { type: 'string' },
    name: { type: 'string' },
    currency: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    opening_balance: { type: 'integer', description: 'Balance before `from`.' },
    closing_balance: { type: 'integer', description: 'Balance at the end of `to`.' },
    total_debits: { type: 'integer' },
    total_credits: { type: 'integer' },
    transactions: {
      type: 'array',
      items: { ...transactionSchema, properties: { ...transactionSchema.properties, running_balance: { type: 'integer' } } },
    },
  },
} as const

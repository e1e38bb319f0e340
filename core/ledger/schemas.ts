import { aggregateAmountSchema } from '../kernel/money'
/** Response schemas of the ledger reads (shared with the statement report). */

const nullableString = { type: ['string', 'null'] } as const
export const ANY_ID = '^[a-z]+_[0-9a-z]{26}$'

export const transactionSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['customer_transaction'] },
    customer: { type: 'string' },
    type: { type: 'string' },
    amount: { type: 'integer', description: 'Signed change of the current balance (pending − advance).' },
    currency: { type: 'string' },
    balance_before: { type: 'integer' },
    balance_after: { type: 'integer' },
    reference: { type: 'string' },
    source: { type: 'string' },
    source_type: { type: 'string' },
    posting_date: { type: 'string' },
    status: { type: 'string', enum: ['posted', 'reversed', 'partially_reversed'] },
    reversed_amount: { type: 'integer', description: 'How much later reversals undid (positive).' },
    reverses: nullableString,
    reason: nullableString,
    actor: nullableString,
    journal_entry: { type: 'string' },
    created: { type: 'string' },
  },
} as const

export const journalEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['journal_entry'] },
    entry_date: { type: 'string' },
    event: { type: 'string' },
    source: { type: 'string' },
    source_type: { type: 'string' },
    currency: { type: 'string' },
    exchange_rate: { type: 'string' },
    memo: nullableString,
    reverses: nullableString,
    created_by: nullableString,
    created: { type: 'string' },
    lines: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          line_no: { type: 'integer' },
          account: { type: 'string' },
          role: { type: 'string' },
          customer: nullableString,
          currency: { type: 'string' },
          debit: { type: 'integer', description: 'Base currency.' },
          credit: { type: 'integer', description: 'Base currency.' },
          tx_debit: { type: 'integer', description: 'Transaction currency.' },
          tx_credit: { type: 'integer', description: 'Transaction currency.' },
        },
      },
    },
  },
} as const

export const accountSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['account'] },
    code: { type: 'string' },
    name: { type: 'string' },
    type: { type: 'string', enum: ['asset', 'liability', 'equity', 'revenue', 'contra_revenue', 'expense'] },
    plugin: { type: 'string' },
    active: { type: 'boolean', description: 'Belongs to the tenant’s active chart of accounts.' },
  },
} as const

export const trialBalanceSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['trial_balance'] },
    as_of: { type: 'string' },
    currency: { type: 'string', description: 'Tenant base currency of debit, credit and balance.' },
    accounts: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          account: { type: 'string' },
          name: nullableString,
          type: nullableString,
          debit: aggregateAmountSchema,
          credit: aggregateAmountSchema,
          balance: { ...aggregateAmountSchema, description: 'debit − credit; a decimal string when past 2^53' },
        },
      },
    },
    totals: { type: 'object', properties: { debit: aggregateAmountSchema, credit: aggregateAmountSchema } },
    by_currency: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          currency: { type: 'string' },
          accounts: {
            type: 'array',
            items: { type: 'object', properties: { account: { type: 'string' }, tx_debit: aggregateAmountSchema, tx_credit: aggregateAmountSchema } },
          },
          total_tx_debit: aggregateAmountSchema,
          total_tx_credit: aggregateAmountSchema,
          balanced: { type: 'boolean' },
        },
      },
    },
    balanced: { type: 'boolean' },
  },
} as const

import { withOptional } from '../kernel/schema'
import { amountSchema, dateSchema } from '../kernel/money'

export const createCreditLimitRequestBody = {
  type: 'object',
  additionalProperties: false,
  required: ['credit_limit', 'reason'],
  properties: {
    credit_limit: { ...amountSchema, description: 'The new limit, in minor units of the customer’s currency.' },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    expires_on: { ...dateSchema, description: 'A temporary limit until this date (inclusive; not before the tenant’s today): sets temporary_credit_limit and temporary_credit_limit_expires_on.' },
  },
} as const

export interface CreateCreditLimitRequestInput {
  credit_limit: number
  reason: string
  expires_on?: string
}

export const decideCreditLimitBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const

export const rejectCreditLimitBody = { ...decideCreditLimitBody, required: ['reason'] } as const

export const CREDIT_LIMIT_REQUEST_STATUSES = ['pending', 'approved', 'rejected'] as const
export type CreditLimitRequestStatus = (typeof CREDIT_LIMIT_REQUEST_STATUSES)[number]

export const creditLimitRequestSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string', description: '`clr_…`' },
    object: { type: 'string', enum: ['credit_limit_request'] },
    status: { type: 'string', enum: CREDIT_LIMIT_REQUEST_STATUSES },
    customer: { type: 'string' },
    kind: { type: 'string', enum: ['credit_limit', 'temporary_credit_limit'], description: '`temporary_credit_limit` when `expires_on` was given.' },
    from: { type: ['integer', 'null'], description: 'The limit when requested (null: none). Absent for a key that may not see balances and limits.' },
    to: { type: 'integer' },
    expires_on: { type: ['string', 'null'] },
    reason: { type: 'string' },
    requested_by: { type: 'string' },
    requested_user: { type: ['string', 'null'] },
    decided_by: { type: ['string', 'null'] },
    decided_user: { type: ['string', 'null'] },
    decision_reason: { type: ['string', 'null'] },
    decided_at: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
} as const, 'from')

export const creditLimitChangeSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: '`clc_…`' },
    object: { type: 'string', enum: ['credit_limit_change'] },
    customer: { type: 'string' },
    kind: { type: 'string', enum: ['credit_limit', 'temporary_credit_limit'] },
    from: { type: ['integer', 'null'] },
    to: { type: ['integer', 'null'] },
    expires_on: { type: ['string', 'null'] },
    requested_by: { type: ['string', 'null'] },
    approved_by: { type: ['string', 'null'] },
    reason: { type: ['string', 'null'] },
    source: { type: 'string', enum: ['request', 'patch', 'policy', 'import', 'create'] },
    request: { type: ['string', 'null'], description: 'The credit-limit request, when `source` is `request`.' },
    at: { type: 'string' },
  },
} as const

import { amountSchema } from '../kernel/money'
import { idPattern } from '../kernel/ids'

export const DISPUTE_TYPES = ['chargeback', 'refund_request', 'billing_error', 'other'] as const
export type DisputeType = (typeof DISPUTE_TYPES)[number]
export const DISPUTE_STATUSES = ['open', 'under_review', 'won', 'lost', 'accepted', 'rejected'] as const
export type DisputeStatus = (typeof DISPUTE_STATUSES)[number]
export const DISPUTE_OUTCOMES = ['won', 'lost', 'accepted', 'rejected'] as const
export type DisputeOutcome = (typeof DISPUTE_OUTCOMES)[number]

/** Evidence files: at most this many bytes, of these types (checked by content, not by name). */
export const EVIDENCE_MAX_BYTES = 10 * 1024 * 1024
export const EVIDENCE_TYPES = ['application/pdf', 'image/png', 'image/jpeg', 'text/plain'] as const

export const createDisputeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'amount', 'reason'],
  description:
    'Against a `payment` (a chargeback must name one) or an `invoice`; `customer` only when the dispute names neither. A chargeback posts at once: the payment’s cash goes back out and the invoices it settled reopen by the amount, newest allocation first; any rest comes out of the advance balance.',
  properties: {
    type: { type: 'string', enum: DISPUTE_TYPES },
    payment: { type: 'string', pattern: idPattern('pay') },
    invoice: { type: 'string', pattern: idPattern('inv') },
    customer: { type: 'string', pattern: idPattern('cus') },
    amount: { ...amountSchema, minimum: 1, description: 'In the currency of the payment or invoice (else the customer’s), minor units.' },
    reason: { type: 'string', minLength: 1, maxLength: 500 },
    reference: { type: 'string', minLength: 1, maxLength: 200, description: 'The card network’s or the customer’s reference.' },
  },
} as const

export interface CreateDisputeInput {
  type: DisputeType
  payment?: string
  invoice?: string
  customer?: string
  amount: number
  reason: string
  reference?: string
}

export const resolveDisputeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['outcome', 'resolution'],
  description:
    'A chargeback is `won` (the charge-back is reversed: the cash comes back and re-settles what it reopened) or `lost` (it stands). Other disputes are `accepted` (a credit note of the amount is issued, against the invoice when one is named; a refund request also refunds it, through the approval rules) or `rejected`.',
  properties: {
    outcome: { type: 'string', enum: DISPUTE_OUTCOMES },
    resolution: { type: 'string', minLength: 1, maxLength: 1000 },
    refund_method: {
      type: 'string',
      minLength: 1,
      maxLength: 64,
      description: 'An accepted refund request only: the payment method the refund goes out by (one of the tenant’s, GET /v1/settings). Default: the disputed payment’s method (bank_transfer when no payment is named); needed when that method was removed from the tenant’s methods since.',
    },
  },
} as const

export interface ResolveDisputeInput {
  outcome: DisputeOutcome
  resolution: string
  refund_method?: string
}

export const listDisputesQuery = {
  status: { type: 'string', enum: DISPUTE_STATUSES },
  customer: { type: 'string', pattern: idPattern('cus') },
  payment: { type: 'string', pattern: idPattern('pay') },
  invoice: { type: 'string', pattern: idPattern('inv') },
} as const

export const evidenceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['dispute_evidence'] },
    dispute: { type: 'string' },
    filename: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    content_type: { type: 'string', enum: EVIDENCE_TYPES },
    created: { type: 'string' },
  },
  required: ['id', 'object', 'dispute', 'filename', 'size', 'sha256', 'content_type', 'created'],
} as const

export const disputeSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['dispute'] },
    type: { type: 'string', enum: DISPUTE_TYPES },
    status: { type: 'string', enum: DISPUTE_STATUSES },
    customer: { type: 'string' },
    payment: { type: ['string', 'null'] },
    invoice: { type: ['string', 'null'] },
    currency: { type: 'string' },
    amount: { type: 'integer' },
    base_amount: { type: 'integer' },
    reason: { type: 'string' },
    reference: { type: ['string', 'null'] },
    resolution: { type: ['string', 'null'] },
    chargeback_entry: { type: ['string', 'null'], description: 'The journal entry a chargeback posted.' },
    outcome_entry: { type: ['string', 'null'], description: 'The entry its outcome posted: a won chargeback’s reversal, an accepted dispute’s credit note.' },
    reopened: {
      type: 'array',
      description: 'What a chargeback reopened, newest allocation first; what was not on an invoice came out of the advance balance.',
      items: { type: 'object', properties: { invoice: { type: 'string' }, amount: { type: 'integer' } }, required: ['invoice', 'amount'] },
    },
    refund: { type: ['string', 'null'], description: 'What an accepted refund request refunded: the refund (`ref_…`), or the approval request holding it (`apr_…`) when it is over the tenant’s refund threshold.' },
    evidence: { type: 'array', items: evidenceSchema },
    created_by: { type: 'string' },
    submitted: { type: ['string', 'null'] },
    resolved: { type: ['string', 'null'] },
    resolved_by: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
  required: [
    'id', 'object', 'type', 'status', 'customer', 'payment', 'invoice', 'currency', 'amount', 'base_amount', 'reason', 'reference',
    'resolution', 'chargeback_entry', 'outcome_entry', 'reopened', 'refund', 'evidence', 'created_by', 'submitted', 'resolved', 'resolved_by', 'created',
  ],
} as const

/** The actions an approval request can stand for (core/workflows/approvals.ts runs them). */
export const APPROVAL_ACTIONS = ['refund.create', 'write_off.create', 'reversal.create', 'invoice.void', 'payment.void', 'reconciliation.repair'] as const
export type ApprovalActionName = (typeof APPROVAL_ACTIONS)[number]

export const APPROVAL_STATUSES = ['pending', 'approved', 'rejected', 'expired', 'failed'] as const
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number]

/** What the held request was: its path parameters and its body, as sent. */
export interface ApprovalPayload {
  params?: Record<string, string>
  body: Record<string, unknown>
}

export const approvalRequestSchema = {
  type: 'object',
  description:
    'A request held for a second pair of eyes (API.md "Approvals"). Approving it runs the action once, as the approver, and stores what it answered in `result`.',
  properties: {
    id: { type: 'string', description: '`apr_…`' },
    object: { type: 'string', enum: ['approval_request'] },
    status: {
      type: 'string',
      enum: APPROVAL_STATUSES,
      description: '`expired`: still pending after `expires_at` (7 days); `failed`: approved, but the action was refused (see `error`); nothing was posted.',
    },
    action: { type: 'string', enum: APPROVAL_ACTIONS, description: '`invoice.void` and `payment.void` are reversals: they follow `reversal_over`.' },
    customer: { type: ['string', 'null'] },
    amount: { type: 'integer', description: 'The amount the action would post, in `currency` minor units.' },
    currency: { type: 'string' },
    base_amount: { type: 'integer', description: 'The same in base-currency minor units (document currency × exchange rate), compared with the threshold.' },
    payload: {
      type: 'object',
      properties: { params: { type: 'object', additionalProperties: { type: 'string' } }, body: { type: 'object', additionalProperties: true } },
      required: ['body'],
      additionalProperties: false,
    },
    requested_by: { type: 'string', description: 'The key that made the request.' },
    requested_user: { type: ['string', 'null'] },
    decided_by: { type: ['string', 'null'] },
    decided_user: { type: ['string', 'null'] },
    decided_at: { type: ['string', 'null'] },
    reason: { type: ['string', 'null'], description: 'The approver’s or rejecter’s reason.' },
    result: { description: 'What the action answered when it ran (e.g. the refund), else null.' },
    error: {
      type: ['object', 'null'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, param: { type: 'string' } },
      required: ['code', 'message'],
    },
    expires_at: { type: 'string' },
    created: { type: 'string' },
  },
} as const

export const approveBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const

export const rejectBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } },
} as const

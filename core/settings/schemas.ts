import { amountSchema } from '../kernel/money'

/** A threshold in base-currency minor units: a request whose base amount is over it needs approval; null: never. */
const threshold = (what: string) => ({
  type: ['integer', 'null'],
  minimum: 0,
  maximum: amountSchema.maximum,
  description: `${what} over this amount (integer minor units of the base currency) answer 202 with an approval request instead of posting; null (default): no approval.`,
})

export const approvalSettingsProperties = {
  refund_over: threshold('Refunds'),
  write_off_over: threshold('Write-offs'),
  reversal_over: threshold('Reversals (POST /v1/transactions/:id/reverse) and voids of invoices and payments'),
  credit_limit_increase: {
    type: 'boolean',
    description:
      'true (default): every credit-limit increase waits for a different key with credit_limits.approve. false: an increase requested by a key that itself holds credit_limits.approve applies at once.',
  },
  repair: { type: 'boolean', description: 'true: a reconciliation repair (POST /v1/reconciliations/:id/repair) answers 202 with an approval request and runs only when a different key approves it. false (default): it runs at once.' },
} as const

export const updateSettingsBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    timezone: { type: 'string', minLength: 1, maxLength: 64, description: "IANA timezone of the tenant's accounting day (live tenants pick a change up within 30 seconds)." },
    approvals: { type: 'object', additionalProperties: false, properties: approvalSettingsProperties, description: 'Only the given keys change.' },
  },
} as const

export interface ApprovalSettings {
  refund_over: number | null
  write_off_over: number | null
  reversal_over: number | null
  credit_limit_increase: boolean
  repair: boolean
}

export interface UpdateSettingsInput {
  timezone?: string
  approvals?: Partial<ApprovalSettings>
}

export const settingsSchema = {
  type: 'object',
  description: 'Tenant settings. Payment methods and rate limits are not settable yet.',
  properties: {
    object: { type: 'string', enum: ['settings'] },
    base_currency: { type: 'string', description: 'Fixed at provisioning.' },
    timezone: { type: 'string' },
    approvals: {
      type: 'object',
      properties: approvalSettingsProperties,
      required: ['refund_over', 'write_off_over', 'reversal_over', 'credit_limit_increase', 'repair'],
    },
  },
  required: ['object', 'base_currency', 'timezone', 'approvals'],
} as const

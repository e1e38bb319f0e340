import { amountSchema } from '../kernel/money'

export const ACCOUNT_ROLES = ['cash', 'bank', 'clearing'] as const
export type AccountRole = (typeof ACCOUNT_ROLES)[number]

export interface PaymentMethodSetting {
  code: string
  name: string
  account_role: AccountRole
}

/** A tenant's payment methods until it sets its own: today's codes, received into the accounts they always were. */
export const DEFAULT_PAYMENT_METHODS: readonly PaymentMethodSetting[] = [
  { code: 'cash', name: 'Cash', account_role: 'cash' },
  { code: 'card', name: 'Card', account_role: 'bank' },
  { code: 'bank_transfer', name: 'Bank transfer', account_role: 'bank' },
  { code: 'check', name: 'Check', account_role: 'bank' },
  { code: 'other', name: 'Other', account_role: 'bank' },
]

export const MAX_PAYMENT_METHODS = 50

/** A payment method code as payments, sales and refunds give it. */
export const paymentMethodCodeSchema = { type: 'string', pattern: '^[a-z][a-z0-9_]{0,31}$', description: "One of the tenant's payment methods (GET /v1/settings); defaults: cash, card, bank_transfer, check, other." } as const

const paymentMethodSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['code', 'name', 'account_role'],
  properties: {
    code: paymentMethodCodeSchema,
    name: { type: 'string', minLength: 1, maxLength: 100 },
    account_role: {
      type: 'string',
      enum: ACCOUNT_ROLES,
      description: 'Where money received by this method is debited, mapped by the chart-of-accounts plugin: cash (till), bank, or clearing (e.g. a card processor settling later).',
    },
  },
} as const

const nullableText = (max: number) => ({ type: ['string', 'null'], maxLength: max })

/** The merchant as printed on documents (statements). */
export const merchantProperties = {
  name: { type: ['string', 'null'], minLength: 1, maxLength: 200, description: 'Legal name printed on documents; null: the tenant name.' },
  address: { ...nullableText(1000), description: 'Postal address, lines separated by newlines.' },
  tax_id: nullableText(64),
  email: { type: ['string', 'null'], format: 'email', maxLength: 254 },
  phone: nullableText(40),
  payment_instructions: { ...nullableText(2000), description: 'How to pay: bank details, payment reference to use.' },
} as const

export interface MerchantSettings {
  name: string | null
  address: string | null
  tax_id: string | null
  email: string | null
  phone: string | null
  payment_instructions: string | null
}

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

/** A tenant's own request budget per API key, within the platform's (RATE_LIMIT_MAX per RATE_LIMIT_WINDOW_MS). */
export const rateLimitProperties = {
  requests_per_key: {
    type: ['integer', 'null'],
    minimum: 1,
    maximum: 100_000_000,
    description:
      "Requests one API key of this tenant may make per rate-limit window (the platform's, 60 seconds by default); more get 429 `rate_limited` with `Retry-After`. It can only lower the platform's limit, never raise it. null (default): the platform's limit. The instance that takes the change applies it at once, others within 5 seconds (the API-key cache).",
  },
} as const

export interface RateLimitSettings {
  requests_per_key: number | null
}

export const DEFAULT_RATE_LIMIT: RateLimitSettings = { requests_per_key: null }

export const updateSettingsBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    timezone: { type: 'string', minLength: 1, maxLength: 64, description: "IANA timezone of the tenant's accounting day (live tenants pick a change up within 30 seconds)." },
    approvals: { type: 'object', additionalProperties: false, properties: approvalSettingsProperties, description: 'Only the given keys change.' },
    merchant: { type: 'object', additionalProperties: false, properties: merchantProperties, description: 'Only the given keys change; null clears one.' },
    payment_methods: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_PAYMENT_METHODS,
      items: paymentMethodSchema,
      description: 'Replaces the whole list (codes unique). Payments, sales and refunds must name one of them (400 `payment_method_unknown`); past documents keep their code.',
    },
    rate_limit: { type: 'object', additionalProperties: false, properties: rateLimitProperties, description: 'Only the given keys change.' },
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
  merchant?: Partial<MerchantSettings>
  payment_methods?: PaymentMethodSetting[]
  rate_limit?: Partial<RateLimitSettings>
}

export const settingsSchema = {
  type: 'object',
  description: 'Tenant settings.',
  properties: {
    object: { type: 'string', enum: ['settings'] },
    base_currency: { type: 'string', description: 'Fixed at provisioning.' },
    timezone: { type: 'string' },
    approvals: {
      type: 'object',
      properties: approvalSettingsProperties,
      required: ['refund_over', 'write_off_over', 'reversal_over', 'credit_limit_increase', 'repair'],
    },
    merchant: { type: 'object', properties: merchantProperties, required: Object.keys(merchantProperties) },
    payment_methods: { type: 'array', items: paymentMethodSchema },
    rate_limit: { type: 'object', properties: rateLimitProperties, required: ['requests_per_key'] },
  },
  required: ['object', 'base_currency', 'timezone', 'approvals', 'merchant', 'payment_methods', 'rate_limit'],
} as const

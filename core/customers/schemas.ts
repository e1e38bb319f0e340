import { FIELD_RULES, USER_LABEL_PATTERN } from '../kernel/permissions'
import { idPattern } from '../kernel/ids'
import { amountSchema, currencySchema } from '../kernel/money'
import { listQueryProperties, type ListQuery } from '../kernel/pagination'

export const CUSTOMER_STATUSES = ['active', 'suspended', 'inactive', 'deleted', 'merged'] as const
/** `deleted` is reached only through DELETE and left only through restore; `merged` only through a merge, for good. */
export const SETTABLE_STATUSES = ['active', 'suspended', 'inactive'] as const
export type CustomerStatus = (typeof CUSTOMER_STATUSES)[number]
export type SettableStatus = (typeof SETTABLE_STATUSES)[number]

export const MAX_METADATA_KEYS = 50

export interface Address {
  line1?: string
  line2?: string
  city?: string
  state?: string
  postal_code?: string
  country?: string
}

export type Metadata = Record<string, string | number | boolean | null>

export interface Preferences {
  email?: boolean
  sms?: boolean
  language?: string
}

/** Fields a merchant may set on create and change with PATCH. */
interface EditableFields {
  name: string
  email?: string | null
  phone?: string | null
  tax_id?: string | null
  billing_address?: Address | null
  shipping_address?: Address | null
  credit_limit?: number | null
  temporary_credit_limit?: number | null
  temporary_credit_limit_expires_on?: string | null
  payment_terms_days?: number
  external_id?: string | null
  assigned_to?: string | null
  metadata?: Metadata
  tier?: string | null
  grace_period_days?: number | null
  suspension_override_until?: string | null
  credit_hold?: boolean
  preferences?: Preferences
}

export interface CreateCustomerInput extends EditableFields {
  currency?: string
}

export interface UpdateCustomerInput extends Partial<EditableFields> {
  status?: SettableStatus
}

export interface ListCustomersQuery extends ListQuery {
  q?: string
  status?: CustomerStatus
  include_deleted?: boolean
}

// ---- request schemas --------------------------------------------------------------------------

const text = (maxLength: number) => ({ type: 'string', minLength: 1, maxLength }) as const
const nullableText = (maxLength: number) => ({ type: ['string', 'null'], minLength: 1, maxLength }) as const

const addressInput = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    line1: text(200),
    line2: text(200),
    city: text(100),
    state: text(100),
    postal_code: text(20),
    country: { type: 'string', pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2.' },
  },
} as const

const metadataInput = {
  type: 'object',
  description: `Up to ${MAX_METADATA_KEYS} keys (1-40 chars) with scalar values (strings up to 500 chars). PATCH replaces the whole object.`,
  maxProperties: MAX_METADATA_KEYS,
  propertyNames: { minLength: 1, maxLength: 40 },
  additionalProperties: { type: ['string', 'number', 'boolean', 'null'], maxLength: 500 },
} as const

const editableProperties = {
  name: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
  email: { type: ['string', 'null'], format: 'email', maxLength: 254 },
  phone: nullableText(40),
  tax_id: nullableText(64),
  billing_address: addressInput,
  shipping_address: addressInput,
  credit_limit: { ...amountSchema, type: ['integer', 'null'], description: 'Minor units of the customer currency; null means no limit.' },
  temporary_credit_limit: {
    ...amountSchema,
    type: ['integer', 'null'],
    description: 'A temporary increase: the limit in force until temporary_credit_limit_expires_on (inclusive) when higher than credit_limit. Set both or neither.',
  },
  temporary_credit_limit_expires_on: { type: ['string', 'null'], format: 'date', description: 'Last day the temporary limit applies.' },
  payment_terms_days: { type: 'integer', minimum: 0, maximum: 3650 },
  external_id: nullableText(255),
  assigned_to: {
    type: ['string', 'null'],
    anyOf: [{ type: 'null' }, { pattern: idPattern('key') }, { pattern: USER_LABEL_PATTERN }],
    description: 'The staff member who owns the account: an API key id, or a `user` label carried by an active key (survives key rotation). Keys limited to their own customers see only the customers assigned to them.',
  },
  metadata: metadataInput,
  tier: { type: ['string', 'null'], pattern: '^[a-z0-9_]{1,32}$', description: 'A tier name the credit policy can see (fact `tier`).' },
  grace_period_days: { type: ['integer', 'null'], minimum: 0, maximum: 365, description: "Overrides the credit policy's grace period for this customer." },
  suspension_override_until: { type: ['string', 'null'], format: 'date', description: 'Until this date (inclusive) the credit policy does not suspend the customer and a suspension does not block documents (fact `suspension_override`).' },
  credit_hold: { type: 'boolean', description: 'No invoice and no sale on account while on hold (422 `credit_hold`), unless a `credit.override` holder gives a reason.' },
  preferences: {
    type: 'object',
    additionalProperties: false,
    properties: { email: { type: 'boolean' }, sms: { type: 'boolean' }, language: { type: 'string', pattern: '^[a-z]{2}(-[A-Z]{2})?$' } },
    description: 'Contact preferences: notifications by email and SMS, and their language.',
  },
} as const

export const createCustomerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    ...editableProperties,
    currency: { ...currencySchema, description: "Defaults to the tenant's base currency; cannot be changed later." },
  },
} as const

export const updateCustomerBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    ...editableProperties,
    status: { type: 'string', enum: [...SETTABLE_STATUSES] },
  },
} as const

export const deleteCustomerBody = {
  type: 'object',
  additionalProperties: false,
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
} as const

export const restoreCustomerBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
} as const

export const customerParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('cus') } },
} as const

export const ifMatchHeaders = {
  type: 'object',
  properties: { 'if-match': { type: 'string', maxLength: 100, description: 'The `ETag` (version) last read: `"3"`, `W/"3"` or `3`.' } },
} as const

export const listCustomersQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...listQueryProperties,
    starting_after: { type: 'string', pattern: idPattern('cus') },
    q: { type: 'string', minLength: 1, maxLength: 200, description: 'Case-insensitive substring of name, email or external_id.' },
    status: { type: 'string', enum: [...CUSTOMER_STATUSES] },
    include_deleted: { type: 'boolean', default: false },
  },
} as const

// ---- response schemas -------------------------------------------------------------------------

const nullableString = { type: ['string', 'null'] } as const

const addressView = {
  type: ['object', 'null'],
  properties: {
    line1: { type: 'string' },
    line2: { type: 'string' },
    city: { type: 'string' },
    state: { type: 'string' },
    postal_code: { type: 'string' },
    country: { type: 'string' },
  },
  required: [],
  description: 'As given: every part is optional.',
} as const

const PII = 'Personal data: absent unless the caller holds customers.pii.view (admin, compliance by default).'
const BALANCES = 'Absent unless the caller holds customers.balance.view.'

const customerViewProperties = {
  id: { type: 'string' },
  object: { type: 'string', enum: ['customer'] },
  name: { type: 'string' },
  email: { ...nullableString, description: PII },
  phone: { ...nullableString, description: PII },
  tax_id: { ...nullableString, description: PII },
  billing_address: { ...addressView, description: PII },
  shipping_address: { ...addressView, description: PII },
  currency: { type: 'string' },
  credit_limit: { type: ['integer', 'null'], description: BALANCES },
  temporary_credit_limit: { type: ['integer', 'null'], description: BALANCES },
  temporary_credit_limit_expires_on: { ...nullableString, description: BALANCES },
  payment_terms_days: { type: 'integer' },
  external_id: nullableString,
  assigned_to: nullableString,
  metadata: { type: 'object', additionalProperties: true },
  tier: nullableString,
  grace_period_days: { type: ['integer', 'null'], description: BALANCES },
  suspension_override_until: { ...nullableString, description: BALANCES },
  credit_hold: { type: 'boolean', description: BALANCES },
  preferences: { type: 'object', properties: { email: { type: 'boolean' }, sms: { type: 'boolean' }, language: { type: 'string' } }, required: [], description: 'As set: each preference is optional.' },
  status: { type: 'string', enum: [...CUSTOMER_STATUSES] },
  merged_into: { ...nullableString, description: 'The customer this one was merged into (status `merged`), else null.' },
  anonymized_at: { ...nullableString, description: 'When the customer was anonymized (its personal data erased for good), else null.' },
  version: { type: 'integer' },
  deleted: { type: 'boolean' },
  deleted_at: nullableString,
  delete_reason: nullableString,
  created: { type: 'string' },
  updated: { type: 'string' },
  balance: {
    type: 'object',
    description: BALANCES,
    properties: {
      pending_balance: { type: 'integer' },
      advance_balance: { type: 'integer' },
      current_balance: { type: 'integer' },
      currency: { type: 'string' },
    },
    required: ['pending_balance', 'advance_balance', 'current_balance', 'currency'],
  },
} as const

/** Always present; the guarded fields (FIELD_RULES) are absent for a caller who may not view them. */
const alwaysPresent = Object.keys(customerViewProperties).filter((f) => !Object.hasOwn(FIELD_RULES.customer, f) || f === 'assigned_to')

export const customerView = {
  type: 'object',
  properties: customerViewProperties,
  required: alwaysPresent,
} as const

export const createdCustomerView = {
  type: 'object',
  properties: {
    ...customerViewProperties,
    possible_duplicates: {
      type: 'array',
      description: 'Existing customers with the same email (case-insensitive), phone or tax id.',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          matched_on: { type: 'array', items: { type: 'string', enum: ['email', 'phone', 'tax_id'] } },
        },
        required: ['id', 'name', 'matched_on'],
      },
    },
  },
  required: [...alwaysPresent, 'possible_duplicates'],
} as const

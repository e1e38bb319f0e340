import { amountSchema, dateSchema } from '../kernel/money'

export const COMMUNICATION_TYPE_ENUM = ['call', 'email', 'sms', 'letter', 'visit', 'note', 'promise_to_pay'] as const

export const createCommunicationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'direction', 'summary'],
  properties: {
    type: { type: 'string', enum: COMMUNICATION_TYPE_ENUM },
    direction: { type: 'string', enum: ['inbound', 'outbound'] },
    summary: { type: 'string', minLength: 1, maxLength: 4000 },
    occurred_at: { type: 'string', format: 'date-time' },
    promised_amount: { ...amountSchema, minimum: 1, description: 'promise_to_pay only: minor units of the customer’s currency.' },
    promised_date: { ...dateSchema, description: 'promise_to_pay only.' },
  },
} as const

export const communicationSchema = {
  type: 'object',
  properties: {
    id: { type: 'string', description: '`com_…`' },
    object: { type: 'string', enum: ['communication'] },
    customer: { type: 'string' },
    type: { type: 'string', enum: COMMUNICATION_TYPE_ENUM },
    direction: { type: 'string' },
    summary: { type: 'string' },
    occurred_at: { type: 'string' },
    promised_amount: { type: ['integer', 'null'] },
    promised_date: { type: ['string', 'null'] },
    notification: { type: ['string', 'null'], description: 'The notification this row records (sent notifications appear by themselves).' },
    created_by: { type: 'string' },
    created: { type: 'string' },
  },
} as const

export const createConsentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['purpose', 'granted', 'source'],
  properties: {
    purpose: { type: 'string', pattern: '^[a-z0-9_]{1,64}$', description: '`email`, `sms`, `notifications` (all channels) are honoured by notifications; any other purpose is recorded.' },
    granted: { type: 'boolean' },
    source: { type: 'string', minLength: 1, maxLength: 200, description: 'Where it was given or withdrawn (e.g. `web_form`, `phone_call`).' },
  },
} as const

const consentSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['consent'] },
    customer: { type: 'string' },
    purpose: { type: 'string' },
    granted: { type: 'boolean' },
    source: { type: 'string' },
    recorded_by: { type: 'string' },
    created: { type: 'string' },
  },
} as const

export const consentItemSchema = consentSchema

export const consentsSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['consents'] },
    customer: { type: 'string' },
    current: { type: 'array', items: consentSchema, description: 'The newest row per purpose.' },
    history: { type: 'array', items: consentSchema, description: 'Every row, newest first.' },
  },
} as const

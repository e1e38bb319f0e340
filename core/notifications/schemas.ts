import { withOptional } from '../kernel/schema'
export const NOTIFICATION_STATUS_ENUM = ['queued', 'sending', 'sent', 'failed', 'dead', 'suppressed'] as const

export const channelSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string', description: '`nch_…`' },
    object: { type: 'string', enum: ['notification_channel'] },
    name: { type: 'string' },
    plugin: { type: 'string' },
    kind: { type: 'string', enum: ['email', 'sms', 'webhook'] },
    config: { type: 'object', additionalProperties: true, description: 'Secret (writeOnly) fields read back as "****".' },
    deleted: { type: 'boolean' },
    created: { type: 'string' },
    updated: { type: 'string' },
  },
} as const, 'deleted')

export const createChannelBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'plugin', 'config'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    plugin: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', maxLength: 64, description: 'A notification-channel plugin: `email-smtp`, `sms-http`, `webhook` or a partner one.' },
    config: { type: 'object', additionalProperties: true, description: 'Validated against the plugin’s configSchema (400 `validation_failed`, param `config`).' },
  },
} as const

export const updateChannelBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    config: { type: 'object', additionalProperties: true, description: 'Merged over the stored config; a secret left out or sent as "****" keeps its value.' },
  },
} as const

export const testChannelBody = {
  type: 'object',
  additionalProperties: false,
  required: ['to'],
  properties: { to: { type: 'string', minLength: 1, maxLength: 320, description: 'An e-mail address, a phone number, or any reference for a webhook channel.' } },
} as const

export const channelTestSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['notification_channel_test'] },
    channel: { type: 'string' },
    to: { type: 'string' },
    status: { type: 'string', enum: ['sent', 'failed'] },
    provider_id: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
  },
} as const

export const createNotificationBody = {
  type: 'object',
  additionalProperties: false,
  required: ['customer', 'template'],
  properties: {
    customer: { type: 'string', pattern: '^cus_[0-9a-z]{26}$' },
    template: { type: 'string', pattern: '^[a-z0-9_]{1,64}$' },
    channel: { type: 'string', pattern: '^nch_[0-9a-z]{26}$', description: 'Default: the tenant’s first e-mail channel the customer has an address for, then SMS, then webhook.' },
    data: { type: 'object', additionalProperties: true, maxProperties: 50, description: 'Values for the template (also as {{data.<name>}}).' },
  },
} as const

const attemptSchema = {
  type: 'object',
  properties: {
    attempt: { type: 'integer' },
    at: { type: 'string' },
    status: { type: 'string', enum: ['sent', 'failed', 'unknown_outcome'] },
    provider_id: { type: ['string', 'null'] },
    error: { type: ['string', 'null'] },
    retryable: { type: 'boolean' },
  },
} as const

export const notificationSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string', description: '`ntf_…`' },
    object: { type: 'string', enum: ['notification'] },
    customer: { type: 'string' },
    template: { type: 'string' },
    channel: { type: ['string', 'null'] },
    to: { type: ['string', 'null'] },
    status: { type: 'string', enum: NOTIFICATION_STATUS_ENUM },
    suppressed_reason: { type: ['string', 'null'], description: '`preference:email`, `preference:sms`, `consent:<purpose>`.' },
    source: { type: 'string' },
    subject: { type: ['string', 'null'] },
    body: { type: ['string', 'null'] },
    attempt_count: { type: 'integer' },
    next_attempt_at: { type: ['string', 'null'] },
    provider_id: { type: ['string', 'null'] },
    last_error: { type: ['object', 'null'], properties: { code: { type: 'string' }, message: { type: 'string' } }, required: [] },
    statement: { type: ['string', 'null'] },
    attempts: { type: 'array', items: attemptSchema },
    sent_at: { type: ['string', 'null'] },
    created: { type: 'string' },
  },
} as const, 'to', 'attempts')

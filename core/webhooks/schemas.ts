import { idPattern } from '../kernel/ids'
import { listQueryProperties, type ListQuery } from '../kernel/pagination'
import { MAX_URL_LENGTH } from '../kernel/ssrf'

/** Every event type the platform emits (API.md, Events and webhooks); endpoints subscribe to these or '*'. */
export const EVENT_TYPES = [
  'customer.created',
  'customer.updated',
  'customer.deleted',
  'customer.suspended',
  'customer.reactivated',
  'customer.credit_warning',
  'customer.credit_hold_changed',
  'customer.credit_limit_changed',
  'customer.merged',
  'customer.anonymized',
  'invoice.created',
  'invoice.paid',
  'invoice.voided',
  'invoice.overdue',
  'payment.created',
  'payment.voided',
  'allocation.created',
  'allocation.reversed',
  'credit_note.created',
  'credit_note.voided',
  'refund.created',
  'write_off.created',
  'adjustment.created',
  'transaction.reversed',
  'sale.created',
  'sale.cancelled',
  'inventory.restore_requested',
  'period.closed',
  'period.reopened',
  'period.locked',
  'reconciliation.discrepancy_detected',
  'test_clock.advanced',
  'approval_request.created',
  'approval_request.approved',
  'approval_request.failed',
  'approval_request.rejected',
  'credit_limit_request.created',
  'credit_limit_request.approved',
  'credit_limit_request.rejected',
  'dispute.created',
  'dispute.submitted',
  'dispute.resolved',
  'notification.sent',
  'notification.dead',
  'notification.suppressed',
  'communication.created',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

export const ENDPOINT_STATUSES = ['enabled', 'disabled'] as const
export const DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const
export type EndpointStatus = (typeof ENDPOINT_STATUSES)[number]
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number]

/** Endpoints per tenant: each event fans out to all of them. */
export const MAX_ENDPOINTS = 20

export interface CreateEndpointInput {
  url: string
  events: string[]
  description?: string | null
}

export interface UpdateEndpointInput {
  url?: string
  events?: string[]
  description?: string | null
  status?: EndpointStatus
}

export interface ListDeliveriesQuery extends ListQuery {
  status?: DeliveryStatus
  event?: string
}

// ---- request schemas --------------------------------------------------------------------------

const urlInput = {
  type: 'string',
  minLength: 1,
  maxLength: MAX_URL_LENGTH,
  description: 'http(s) URL without credentials. Private, loopback and link-local targets are refused at delivery.',
} as const

const eventsInput = {
  type: 'array',
  minItems: 1,
  maxItems: EVENT_TYPES.length,
  uniqueItems: true,
  items: { type: 'string', enum: [...EVENT_TYPES, '*'] },
  description: "Event types to receive, or ['*'] for all.",
} as const

const descriptionInput = { type: ['string', 'null'], maxLength: 500 } as const

export const createEndpointBody = {
  type: 'object',
  additionalProperties: false,
  required: ['url', 'events'],
  properties: { url: urlInput, events: eventsInput, description: descriptionInput },
} as const

export const updateEndpointBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    url: urlInput,
    events: eventsInput,
    description: descriptionInput,
    status: { type: 'string', enum: [...ENDPOINT_STATUSES], description: 'Re-enable an endpoint disabled after a 410, or pause one.' },
  },
} as const

export const endpointParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('we') } },
} as const

export const deliveryParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'delivery'],
  properties: { id: { type: 'string', pattern: idPattern('we') }, delivery: { type: 'string', pattern: idPattern('whd') } },
} as const

export const listEndpointsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...listQueryProperties, starting_after: { type: 'string', pattern: idPattern('we') } },
} as const

export const listDeliveriesQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...listQueryProperties,
    starting_after: { type: 'string', pattern: idPattern('whd') },
    status: { type: 'string', enum: [...DELIVERY_STATUSES] },
    event: { type: 'string', pattern: idPattern('evt') },
  },
} as const

export const listAttemptsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...listQueryProperties, starting_after: { type: 'string', pattern: idPattern('wha') } },
} as const

// ---- response schemas -------------------------------------------------------------------------

const nullableString = { type: ['string', 'null'] } as const

const endpointViewProperties = {
  id: { type: 'string' },
  object: { type: 'string', enum: ['webhook_endpoint'] },
  url: { type: 'string' },
  events: { type: 'array', items: { type: 'string' } },
  description: nullableString,
  status: { type: 'string', enum: [...ENDPOINT_STATUSES] },
  disabled_reason: nullableString,
  previous_secret_expires_at: { ...nullableString, description: 'While set, deliveries are signed with the previous secret too.' },
  created: { type: 'string' },
  updated: { type: 'string' },
} as const

export const endpointView = {
  type: 'object',
  properties: endpointViewProperties,
  required: Object.keys(endpointViewProperties),
} as const

export const endpointWithSecretView = {
  type: 'object',
  properties: { ...endpointViewProperties, secret: { type: 'string', description: 'whsec_… signing secret, shown on create and rotate only.' } },
  required: [...Object.keys(endpointViewProperties), 'secret'],
} as const

export const deletedEndpointView = {
  type: 'object',
  properties: { id: { type: 'string' }, object: { type: 'string', enum: ['webhook_endpoint'] }, deleted: { type: 'boolean' } },
  required: ['id', 'object', 'deleted'],
} as const

const attemptViewProperties = {
  id: { type: 'string' },
  object: { type: 'string', enum: ['webhook_delivery_attempt'] },
  delivery: { type: 'string' },
  attempt: { type: 'integer' },
  status_code: { type: ['integer', 'null'] },
  duration_ms: { type: 'integer' },
  error: nullableString,
  response_excerpt: { ...nullableString, description: 'First 1 KB of the response body.' },
  next_attempt_at: { ...nullableString, description: 'When the next attempt was scheduled, if any.' },
  created: { type: 'string' },
} as const

export const attemptView = {
  type: 'object',
  properties: attemptViewProperties,
  required: Object.keys(attemptViewProperties),
} as const

const deliveryViewProperties = {
  id: { type: 'string' },
  object: { type: 'string', enum: ['webhook_delivery'] },
  endpoint: { type: 'string' },
  event: { type: 'string', description: 'The event id, also sent as webhook-id on every attempt.' },
  event_type: { type: 'string' },
  status: { type: 'string', enum: [...DELIVERY_STATUSES] },
  attempt_count: { type: 'integer' },
  next_attempt_at: nullableString,
  last_status_code: { type: ['integer', 'null'] },
  last_error: nullableString,
  delivered_at: nullableString,
  created: { type: 'string' },
  attempts: { type: 'array', items: attemptView, description: 'The most recent attempts, newest first.' },
} as const

export const deliveryView = {
  type: 'object',
  properties: deliveryViewProperties,
  required: Object.keys(deliveryViewProperties),
} as const

/** The event as the API and webhooks show it (component Event). */
export const eventView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['event'] },
    type: { type: 'string' },
    created: { type: 'string' },
    tenant: { type: 'string' },
    data: {
      type: 'object',
      properties: { object: { type: 'object', additionalProperties: true, description: 'The resource as of the event; customer PII masked for roles without read_pii.' } },
      required: ['object'],
    },
    request: {
      type: 'object',
      properties: { id: { type: ['string', 'null'] }, idempotency_key: { type: ['string', 'null'] } },
      required: ['id', 'idempotency_key'],
    },
    archived: { type: 'boolean', description: 'Present (true) on an event moved to the archive by retention' },
  },
  required: ['id', 'object', 'type', 'created', 'tenant', 'data', 'request'],
} as const

export const templateSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['notification_template'] },
    key: { type: 'string' },
    language: { type: 'string' },
    subject: { type: ['string', 'null'] },
    body: { type: 'string' },
    source: { type: 'string', enum: ['default', 'tenant'], description: '`default`: the built-in text (no tenant text saved for this key and language).' },
    built_in: { type: 'boolean' },
    updated: { type: ['string', 'null'] },
  },
} as const

export const putTemplateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['body'],
  properties: {
    subject: { type: ['string', 'null'], maxLength: 1000 },
    body: { type: 'string', minLength: 1, maxLength: 65536 },
    language: { type: 'string', pattern: '^[a-z]{2}(-[A-Z]{2})?$', description: 'Default `en`. A customer gets the text in `preferences.language`, else `en`, else the built-in default.' },
  },
} as const

export const templateKeyParams = { type: 'object', required: ['key'], properties: { key: { type: 'string', pattern: '^[a-z0-9_]{1,64}$' } } } as const

/** Response schemas of the tenant routes (components Tenant, ApiKey, ApiKeyWithSecret). */
export const tenantSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string' },
    name: { type: 'string' },
    base_currency: { type: 'string' },
    timezone: { type: 'string' },
    sandbox: { type: 'boolean' },
    test_clock_date: { type: ['string', 'null'] },
    created: { type: 'string' },
    api_key: { type: 'string', description: 'Admin API key secret, shown once.' },
  },
}

const apiKeyProperties = {
  id: { type: 'string' },
  object: { type: 'string' },
  name: { type: 'string' },
  role: { type: 'string', description: 'A built-in role name, or a custom role id (`role_…`).' },
  user: { type: ['string', 'null'], description: 'The staff member the key belongs to.' },
  mode: { type: 'string', enum: ['test', 'live'] },
  last4: { type: 'string' },
  created: { type: 'string' },
  revoked: { type: ['string', 'null'] },
} as const

export const apiKeySchema = { type: 'object', properties: apiKeyProperties } as const

export const apiKeyWithSecretSchema = {
  type: 'object',
  properties: {
    ...apiKeyProperties,
    secret: { type: 'string', description: 'Shown once, on creation.' },
  },
} as const

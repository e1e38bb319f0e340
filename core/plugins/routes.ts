import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listSchema, page } from '../kernel/pagination'
import { configurePlugin, listPlugins } from './service'

const errors = { '4xx': { $ref: 'Error#' } }

const pluginSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    object: { type: 'string', enum: ['plugin'] },
    version: { type: 'string' },
    provides: { type: 'array', items: { type: 'string' } },
    config_schema: { type: 'object', additionalProperties: true },
    enabled: { type: 'boolean', description: 'Enabled for this tenant.' },
    config: { type: ['object', 'null'], additionalProperties: true, description: 'This tenant’s config (validated against config_schema).' },
  },
} as const

const configureBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean', default: true, description: 'Enabling a chart of accounts makes it the tenant’s only active one.' },
    config: { type: 'object', additionalProperties: true, description: 'Validated against the plugin’s config_schema before it is stored.' },
  },
} as const

export async function pluginRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/plugins',
    {
      schema: { operationId: 'listPlugins', tags: ['plugins'], summary: 'Installed plugins with this tenant’s enablement and config', response: { 200: listSchema(pluginSchema), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => page(await listPlugins(trx, ctx), false)),
  )

  app.put<{ Params: { name: string }; Body: { enabled?: boolean; config?: Record<string, unknown> } }>(
    '/plugins/:name',
    {
      schema: {
        operationId: 'configurePlugin',
        tags: ['plugins'],
        summary: 'Enable, disable or configure a plugin for this tenant',
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*$', maxLength: 64 } } },
        body: configureBody,
        response: { 200: pluginSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => configurePlugin(trx, ctx, req.params.name, req.body)),
  )
}

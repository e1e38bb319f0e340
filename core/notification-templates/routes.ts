import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listSchema } from '../kernel/pagination'
import { INVOICE_PLACEHOLDERS, PLACEHOLDERS, TEMPLATE_KEYS } from './defaults'
import { listTemplates, putTemplate } from './model'
import { putTemplateBody, templateKeyParams, templateSchema } from './schemas'

const errors = { '4xx': { $ref: 'Error#' } }

export async function notificationTemplateRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/notification-templates',
    {
      schema: {
        operationId: 'listNotificationTemplates',
        tags: ['notifications'],
        summary: 'Every notification template: the built-in keys (own text or default) and the tenant’s own keys',
        description: `Built-in keys: ${TEMPLATE_KEYS.join(', ')}.`,
        response: { 200: listSchema(templateSchema), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listTemplates(trx, ctx)),
  )

  app.put<{ Params: { key: string }; Body: { subject?: string | null; body: string; language?: string } }>(
    '/notification-templates/:key',
    {
      schema: {
        operationId: 'setNotificationTemplate',
        tags: ['notifications'],
        summary: 'Save a template text (per key and language)',
        description: [
          'Logic-less mustache. Placeholders:', PLACEHOLDERS.map((p) => `{{${p}}}`).join(', '), ', and {{data.<name>}} for what the sender passes in `data`;',
          `inside {{#invoices}}…{{/invoices}}: ${INVOICE_PLACEHOLDERS.join(', ')}.`,
          'An unknown placeholder, a partial, a delimiter change or unbalanced tags → 400 `template_invalid` (param `subject` or `body`); body ≤ 16384 characters, subject ≤ 200.',
        ].join(' '),
        params: templateKeyParams,
        body: putTemplateBody,
        response: { 200: templateSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => putTemplate(trx, ctx, req.params.key, req.body)),
  )
}

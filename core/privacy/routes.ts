import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { can } from '../kernel/permissions'
import { customerParams, customerView, deleteCustomerBody } from '../customers/schemas'
import { exportCustomer, EXPORT_SECTION_MAX } from '../views/customer-export'
import { anonymizeCustomer } from '../workflows/anonymize-customer'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const rows = { type: 'array', items: { type: 'object', additionalProperties: true } } as const

const exportView = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['customer_export'] },
    exported_at: { type: 'string' },
    customer: customerView,
    documents: {
      type: 'object',
      properties: { invoices: rows, payments: rows, credit_notes: rows, refunds: rows, write_offs: rows, adjustments: rows, sales: rows, allocations: rows },
      required: ['invoices', 'payments', 'credit_notes', 'refunds', 'write_offs', 'adjustments', 'sales', 'allocations'],
    },
    transactions: rows,
    disputes: rows,
    communications: rows,
    notifications: rows,
    consents: { ...rows, description: 'Every consent given or withdrawn, newest first (the history is kept).' },
    credit_limit_history: { type: 'object', properties: { changes: rows, requests: rows }, required: ['changes', 'requests'] },
    audit_entries: rows,
    events: rows,
    limits: { type: 'object', properties: { section_max: { type: 'integer' } }, required: ['section_max'] },
    truncated: { type: 'array', items: { type: 'string' }, description: 'Sections cut at `limits.section_max` rows (newest kept); page the rest through their list endpoints.' },
  },
  required: ['object', 'exported_at', 'customer', 'documents', 'transactions', 'disputes', 'communications', 'notifications', 'consents', 'credit_limit_history', 'audit_entries', 'events', 'limits', 'truncated'],
} as const

export async function privacyRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { id: string } }>(
    '/customers/:id/export',
    {
      schema: {
        operationId: 'exportCustomer',
        tags: ['customers'],
        summary: 'Export every piece of personal data and history held on a customer (machine-readable JSON)',
        description: `Customer, documents (with lines), sub-ledger, disputes, communications, notifications, credit-limit history, audit entries and events about it, personal data opened. Each section holds at most ${EXPORT_SECTION_MAX} rows, newest first; cut sections are listed in \`truncated\`.`,
        params: customerParams,
        response: { 200: exportView, ...errors },
      },
    },
    async (req, reply) =>
      inTenant(req, reply, async (trx, ctx) => {
        const data = await exportCustomer(trx, ctx, req.params.id)
        // Free-text personal data outside customer objects follows the same view right as e-mail.
        if (!can(ctx.access, 'customers.pii.view')) {
          for (const n of data.notifications) (n.recipient = null), (n.data = null)
          for (const c of data.communications) c.summary = null
        }
        return data
      }),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/customers/:id/anonymize',
    {
      schema: {
        operationId: 'anonymizeCustomer',
        tags: ['customers'],
        summary: 'Erase the personal data of a customer for good (crypto-shredding); refused while the balance is not zero or a dispute is open',
        params: customerParams,
        body: deleteCustomerBody,
        response: { 200: ref('Customer'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => anonymizeCustomer(trx, ctx, req.params.id, req.body)),
  )
}

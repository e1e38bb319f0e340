import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { metadataPatchHandler } from '../http/metadata'
import { metadataPatchBody, type MetadataPatch } from '../kernel/metadata'
import { batchedInTenant } from '../http/batch'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createInvoiceBody, CreateInvoiceInput, invoiceFilterProperties, type InvoiceListQuery } from './schemas'
import { listInvoices } from './model'
import { getInvoice } from '../views/documents'
import { createInvoices } from '../workflows/post-invoices'
import { voidInvoice } from '../workflows/void'
import { postOrHold } from '../http/approvals'
import { voidBody, type VoidInput } from '../reversals/schemas'
import { can } from '../kernel/permissions'
import { invoiceDocument, invoicePdf } from '../reports/invoice-pdf'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const held = { 202: ref('ApprovalRequest', 'Over the tenant’s approval threshold (GET /v1/settings): held as an approval request, nothing posted.') }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('inv') } } }

export async function invoiceRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent invoice requests of a tenant post together (core/http/batch.ts).
  const postInvoice = batchedInTenant(createInvoices, { document: 'invoice', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreateInvoiceInput }>(
    '/invoices',
    {
      schema: { operationId: 'createInvoice', tags: ['invoices'], summary: 'Post an invoice', body: createInvoiceBody, response: { 201: ref('Invoice'), ...errors } },
    },
    async (req, reply) => postInvoice(req, reply, req.body),
  )

  app.get<{ Querystring: InvoiceListQuery }>(
    '/invoices',
    {
      schema: {
        operationId: 'listInvoices',
        tags: ['invoices'],
        summary: 'List invoices',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            customer: { type: 'string', pattern: idPattern('cus') },
            status: { type: 'string', enum: ['open', 'partially_paid', 'paid', 'void'] },
            ...invoiceFilterProperties,
          },
        },
        response: { 200: listSchema(ref('Invoice')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listInvoices(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/invoices/:id/pdf',
    {
      schema: {
        operationId: 'getInvoicePdf',
        tags: ['invoices'],
        summary: 'The invoice as a PDF document to send',
        description: 'The merchant (settings `merchant`), the customer (address and tax id only for keys that may view personal data), dates, lines, totals, amount due and payment instructions.',
        params: idParams,
        response: { 200: { description: 'The PDF', content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } }, ...errors },
      },
    },
    async (req, reply) => {
      const includePii = can(req.ctx.access, 'customers.pii.view')
      const document = await inTenant(req, reply, (trx, ctx) => invoiceDocument(trx, ctx, req.params.id, includePii))
      reply.type('application/pdf').header('content-disposition', `attachment; filename="invoice-${document.invoice.number}.pdf"`)
      return invoicePdf(document)
    },
  )

  app.get<{ Params: { id: string } }>(
    '/invoices/:id',
    {
      schema: { operationId: 'getInvoice', tags: ['invoices'], summary: 'Get an invoice with its allocations', params: idParams, response: { 200: ref('Invoice'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getInvoice(trx, ctx, req.params.id)),
  )

  app.patch<{ Params: { id: string }; Body: MetadataPatch }>(
    '/invoices/:id',
    { schema: { operationId: 'updateInvoiceMetadata', tags: ['invoices'], summary: "Replace an invoice's metadata", params: idParams, body: metadataPatchBody, response: { 200: ref('Invoice'), ...errors } } },
    metadataPatchHandler('invoices', getInvoice),
  )

  app.post<{ Params: { id: string }; Body: VoidInput }>(
    '/invoices/:id/void',
    {
      schema: { operationId: 'voidInvoice', tags: ['invoices'], summary: 'Void an invoice (un-applies its allocations)', description: 'What remains of the invoice over `approvals.reversal_over`: 202 with an approval request.', params: idParams, body: voidBody, response: { 200: ref('Invoice'), ...held, ...errors } },
    },
    async (req, reply) =>
      postOrHold(req, reply, 'invoice.void', { params: { id: req.params.id }, body: { ...req.body } }, () =>
        inTenant(req, reply, (trx, ctx) => voidInvoice(trx, ctx, req.params.id, req.body)),
      ),
  )
}

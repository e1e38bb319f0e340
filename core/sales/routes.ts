import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { metadataPatchHandler } from '../http/metadata'
import { metadataPatchBody, type MetadataPatch } from '../kernel/metadata'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { cancelSaleBody, CancelSaleInput, createSaleBody, CreateSaleInput, saleFilterProperties, type SaleListQuery } from './schemas'
import { getSale, listSales } from '../views/documents'
import { batchedInTenant } from '../http/batch'
import { createSales } from '../workflows/sale'
import { cancelSale } from '../workflows/cancel-sale'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('sale') } } }

export async function saleRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent sales of a tenant post together (core/http/batch.ts).
  const postSale = batchedInTenant(createSales, { document: 'sale', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreateSaleInput }>(
    '/sales',
    {
      schema: { operationId: 'createSale', tags: ['sales'], summary: 'Record a point-of-sale sale: invoice and payment in one transaction', body: createSaleBody, response: { 201: ref('Sale'), ...errors } },
    },
    async (req, reply) => postSale(req, reply, req.body),
  )

  app.get<{ Querystring: SaleListQuery }>(
    '/sales',
    {
      schema: {
        operationId: 'listSales',
        tags: ['sales'],
        summary: 'List sales',
        querystring: { type: 'object', additionalProperties: false, properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') }, ...saleFilterProperties } },
        response: { 200: listSchema(ref('Sale')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listSales(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/sales/:id',
    {
      schema: { operationId: 'getSale', tags: ['sales'], summary: 'Get a sale with its invoice and payment', params: idParams, response: { 200: ref('Sale'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getSale(trx, ctx, req.params.id)),
  )

  app.patch<{ Params: { id: string }; Body: MetadataPatch }>(
    '/sales/:id',
    { schema: { operationId: 'updateSaleMetadata', tags: ['sales'], summary: "Replace a sale's metadata", params: idParams, body: metadataPatchBody, response: { 200: ref('Sale'), ...errors } } },
    metadataPatchHandler('sales', getSale),
  )

  app.post<{ Params: { id: string }; Body: CancelSaleInput }>(
    '/sales/:id/cancel',
    {
      schema: { operationId: 'cancelSale', tags: ['sales'], summary: 'Cancel a sale: void its payment and invoice, request the inventory restore', params: idParams, body: cancelSaleBody, response: { 200: ref('Sale'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => cancelSale(trx, ctx, req.params.id, req.body)),
  )
}

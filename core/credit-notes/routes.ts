import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { metadataPatchHandler } from '../http/metadata'
import { metadataPatchBody, type MetadataPatch } from '../kernel/metadata'
import { listQueryProperties, listSchema } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { createCreditNoteBody, CreateCreditNoteInput, creditNoteFilterProperties, type CreditNoteListQuery } from './schemas'
import { getCreditNote, listCreditNotes } from '../views/documents'
import { batchedInTenant } from '../http/batch'
import { createCreditNotes } from '../workflows/credit-note'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('cn') } } }

export async function creditNoteRoutes(app: FastifyInstance): Promise<void> {
  // Concurrent credit notes of a tenant post together (core/http/batch.ts).
  const postCreditNote = batchedInTenant(createCreditNotes, { document: 'credit_note', status: 201, partition: (input) => input.customer })

  app.post<{ Body: CreateCreditNoteInput }>(
    '/credit-notes',
    {
      schema: { operationId: 'createCreditNote', tags: ['credit-notes'], summary: 'Issue a credit note (a return of invoice lines or a credit by amount)', body: createCreditNoteBody, response: { 201: ref('CreditNote'), ...errors } },
    },
    async (req, reply) => postCreditNote(req, reply, req.body),
  )

  app.get<{ Querystring: CreditNoteListQuery }>(
    '/credit-notes',
    {
      schema: {
        operationId: 'listCreditNotes',
        tags: ['credit-notes'],
        summary: 'List credit notes',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, customer: { type: 'string', pattern: idPattern('cus') }, invoice: { type: 'string', pattern: idPattern('inv') }, ...creditNoteFilterProperties },
        },
        response: { 200: listSchema(ref('CreditNote')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listCreditNotes(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/credit-notes/:id',
    {
      schema: { operationId: 'getCreditNote', tags: ['credit-notes'], summary: 'Get a credit note with its allocations', params: idParams, response: { 200: ref('CreditNote'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getCreditNote(trx, ctx, req.params.id)),
  )

  app.patch<{ Params: { id: string }; Body: MetadataPatch }>(
    '/credit-notes/:id',
    { schema: { operationId: 'updateCreditNoteMetadata', tags: ['credit-notes'], summary: "Replace a credit note's metadata", params: idParams, body: metadataPatchBody, response: { 200: ref('CreditNote'), ...errors } } },
    metadataPatchHandler('credit_notes', getCreditNote),
  )
}

import type { FastifyInstance } from 'fastify'
import multipart from '@fastify/multipart'
import { customerFilter } from '../customers/service'
import { inTenant } from '../http/tx'
import { withTenant } from '../kernel/db/tenant'
import type { Trx } from '../kernel/db/knex'
import { AppError } from '../kernel/errors'
import { newId, idPattern } from '../kernel/ids'
import { listQueryProperties, listSchema, type ListQuery } from '../kernel/pagination'
import { openDispute, resolveDispute, submitDispute } from '../workflows/dispute'
import { describeEvidence } from './evidence'
import { addEvidence, evidenceView, getDispute, getDisputeRow, getEvidenceContent, listDisputes, lockDispute } from './model'
import {
  createDisputeBody,
  evidenceSchema,
  EVIDENCE_MAX_BYTES,
  listDisputesQuery,
  resolveDisputeBody,
  type CreateDisputeInput,
  type DisputeStatus,
  type ResolveDisputeInput,
} from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['disputes']
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('dsp') } } }
const evidenceParams = {
  type: 'object',
  required: ['id', 'evidence_id'],
  properties: { id: { type: 'string', pattern: idPattern('dsp') }, evidence_id: { type: 'string', pattern: idPattern('dev') } },
}

/** Reads the one `file` part of a multipart upload, at most EVIDENCE_MAX_BYTES. */
async function readUpload(req: import('fastify').FastifyRequest): Promise<{ content: Buffer; filename: string }> {
  if (!req.isMultipart()) throw new AppError('unsupported_media_type', 'Upload evidence as multipart/form-data with the file in the field `file`.')
  let part
  try {
    part = await req.file()
  } catch (err) {
    throw new AppError('validation_failed', `The multipart body is malformed: ${(err as Error).message}`, { param: 'file' })
  }
  if (!part || part.fieldname !== 'file') throw new AppError('validation_failed', 'The upload needs one file in the field `file`.', { param: 'file' })
  try {
    return { content: await part.toBuffer(), filename: part.filename }
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
      throw new AppError('body_too_large', `An evidence file is at most ${EVIDENCE_MAX_BYTES} bytes.`, { param: 'file' })
    }
    // The stream ended before the part did (a truncated upload, a dropped connection): nothing is stored.
    throw new AppError('validation_failed', `The upload is incomplete or malformed: ${(err as Error).message}`, { param: 'file' })
  }
}

export async function disputeRoutes(app: FastifyInstance): Promise<void> {
  // Multipart bodies only where evidence is uploaded (this plugin's routes), one file each.
  await app.register(multipart, { limits: { fileSize: EVIDENCE_MAX_BYTES, files: 1, fields: 0, parts: 1 } })

  app.post<{ Body: CreateDisputeInput }>(
    '/disputes',
    { schema: { operationId: 'createDispute', tags, summary: 'Open a dispute; a chargeback posts at once', body: createDisputeBody, response: { 201: ref('Dispute'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => openDispute(trx, ctx, req.body), { status: 201 }),
  )

  app.get<{ Querystring: ListQuery & { status?: DisputeStatus; customer?: string; payment?: string; invoice?: string } }>(
    '/disputes',
    {
      schema: {
        operationId: 'listDisputes',
        tags,
        summary: 'List disputes',
        querystring: { type: 'object', additionalProperties: false, properties: { ...listQueryProperties, ...listDisputesQuery } },
        response: { 200: listSchema(ref('Dispute')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listDisputes(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/disputes/:id',
    { schema: { operationId: 'getDispute', tags, summary: 'Get a dispute with its evidence', params: idParams, response: { 200: ref('Dispute'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getDispute(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string } }>(
    '/disputes/:id/submit',
    { schema: { operationId: 'submitDispute', tags, summary: 'Submit the evidence for review (open → under_review)', params: idParams, response: { 200: ref('Dispute'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => submitDispute(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: ResolveDisputeInput }>(
    '/disputes/:id/resolve',
    { schema: { operationId: 'resolveDispute', tags, summary: 'Resolve a dispute (once); a won chargeback is reversed, an accepted claim credited', params: idParams, body: resolveDisputeBody, response: { 200: ref('Dispute'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => resolveDispute(trx, ctx, req.params.id, req.body)),
  )

  app.post<{ Params: { id: string } }>(
    '/disputes/:id/evidence',
    {
      schema: {
        operationId: 'addDisputeEvidence',
        tags,
        summary: 'Upload a piece of evidence (multipart field `file`: PDF, PNG, JPEG or plain text, at most 10 MiB, checked by content)',
        description: 'The same file (by SHA-256) uploaded again to the dispute answers 200 with the evidence already stored.',
        consumes: ['multipart/form-data'],
        params: idParams,
        response: { 201: evidenceSchema, 200: evidenceSchema, ...errors },
      },
    },
    async (req, reply) => {
      const open = (trx: Trx, lock: boolean) => async () => {
        const d = lock ? await lockDispute(trx, req.ctx, req.params.id) : await getDisputeRow(trx, req.ctx, req.params.id)
        if (!['open', 'under_review'].includes(d.status)) throw new AppError('dispute_closed', `Dispute ${d.id} is ${d.status}: it takes no more evidence.`, { param: 'id' })
        return d
      }
      const scope = { owners: req.ctx.access.owners }
      // The dispute first (404, 409 before a byte of the file is read), then the file, then the row.
      await withTenant(req.server.deps.db, req.ctx.tenantId, (trx) => open(trx, false)(), scope)
      const upload = await readUpload(req)
      const described = describeEvidence(upload.content, upload.filename)
      const { row, created } = await withTenant(
        req.server.deps.db,
        req.ctx.tenantId,
        async (trx) => {
          const d = await open(trx, true)()
          return addEvidence(trx, req.ctx, { id: newId('dev'), dispute_id: d.id, customer_id: d.customer_id, ...described, content: upload.content })
        },
        scope,
      )
      reply.code(created ? 201 : 200)
      return evidenceView(row)
    },
  )

  app.get<{ Params: { id: string; evidence_id: string } }>(
    '/disputes/:id/evidence/:evidence_id',
    {
      schema: {
        operationId: 'getDisputeEvidence',
        tags,
        summary: 'Download a piece of evidence',
        params: evidenceParams,
        response: { 200: { description: 'The file as uploaded', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, ...errors },
      },
    },
    async (req, reply) => {
      const file = await withTenant(req.server.deps.db, req.ctx.tenantId, (trx) => getEvidenceContent(trx, req.ctx, req.params.id, req.params.evidence_id), { owners: req.ctx.access.owners })
      reply
        .type(file.content_type)
        .header('content-disposition', `attachment; filename="${encodeURIComponent(file.filename)}"`)
        .header('x-content-type-options', 'nosniff')
      return file.content
    },
  )
}

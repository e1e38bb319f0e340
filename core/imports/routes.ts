import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import multipart from '@fastify/multipart'
import { stringify } from 'csv-stringify/sync'
import { inTenant } from '../http/tx'
import { withTenant } from '../kernel/db/tenant'
import { AppError } from '../kernel/errors'
import { idPattern, newId } from '../kernel/ids'
import { enqueueImport } from './jobs'
import { getImportRow, importView, insertImport, refusedRows, type ImportActor } from './model'
import { IMPORT_DESCRIPTION, IMPORT_MAX_BYTES, IMPORT_TYPES, type ImportType } from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['imports']
const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('imp') } } }

interface Upload {
  type: ImportType
  dryRun: boolean
  filename: string
  content: Buffer
}

/** Reads the multipart fields `type`, `dry_run` and the one file `file` (at most IMPORT_MAX_BYTES). */
async function readUpload(req: FastifyRequest): Promise<Upload> {
  if (!req.isMultipart()) throw new AppError('unsupported_media_type', 'Upload the CSV as multipart/form-data: fields `type`, optional `dry_run`, and the file in `file`.')
  const fields: Record<string, string> = {}
  let file: { filename: string; content: Buffer } | null = null
  try {
    for await (const part of req.parts()) {
      if (part.type === 'field') fields[part.fieldname] = String(part.value)
      else if (part.fieldname === 'file' && !file) file = { filename: part.filename, content: await part.toBuffer() }
      else await part.toBuffer()
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') throw new AppError('body_too_large', `An import file is at most ${IMPORT_MAX_BYTES} bytes.`, { param: 'file' })
    throw new AppError('validation_failed', `The upload is incomplete or malformed: ${(err as Error).message}`, { param: 'file' })
  }
  if (!file || !file.content.length) throw new AppError('validation_failed', 'The upload needs a non-empty CSV file in the field `file`.', { param: 'file' })
  if (!(IMPORT_TYPES as readonly string[]).includes(fields.type ?? '')) throw new AppError('validation_failed', `\`type\` is one of ${IMPORT_TYPES.join(', ')}.`, { param: 'type' })
  if (fields.dry_run !== undefined && !['true', 'false'].includes(fields.dry_run)) throw new AppError('validation_failed', '`dry_run` is true or false.', { param: 'dry_run' })
  if (file.content.includes(0)) throw new AppError('validation_failed', 'A CSV file holds text: this one has NUL bytes.', { param: 'file' })
  const filename = (file.filename.split(/[\\/]/).pop() ?? '').replace(/[\u0000-\u001f\u007f"]/g, '').slice(0, 255) || 'import.csv'
  return { type: fields.type as ImportType, dryRun: fields.dry_run === 'true', filename, content: file.content }
}

export async function importRoutes(app: FastifyInstance): Promise<void> {
  await app.register(multipart, { limits: { fileSize: IMPORT_MAX_BYTES, files: 1, fields: 4, parts: 5 } })

  app.post(
    '/imports',
    {
      schema: {
        operationId: 'createImport',
        tags,
        summary: 'Import customers, opening balances, invoices or payments from a CSV file (a job)',
        description: IMPORT_DESCRIPTION,
        consumes: ['multipart/form-data'],
        response: { 202: ref('Import'), 200: ref('Import', 'This file was imported before (same SHA-256, type and dry_run): the first import.'), ...errors },
      },
    },
    async (req, reply) => {
      const upload = await readUpload(req)
      const a = req.ctx.access
      const actor: ImportActor = { key_id: req.ctx.keyId, user: req.ctx.user, role: req.ctx.role, permissions: [...a.permissions], own_customers_only: a.owners !== null, owners: a.owners ? [...a.owners] : null }
      const { row, created } = await withTenant(
        req.server.deps.db,
        req.ctx.tenantId,
        (trx) =>
          insertImport(trx, req.ctx, {
            id: newId('imp'), type: upload.type, dry_run: upload.dryRun, filename: upload.filename, size: upload.content.length,
            sha256: createHash('sha256').update(upload.content).digest('hex'), actor, content: upload.content,
          }),
        { owners: req.ctx.access.owners },
      )
      if (created) await enqueueImport(req.ctx.tenantId, row.id)
      reply.code(created ? 202 : 200)
      return importView(row)
    },
  )

  app.get<{ Params: { id: string } }>(
    '/imports/:id',
    { schema: { operationId: 'getImport', tags, summary: 'An import and its progress', params: idParams, response: { 200: ref('Import'), ...errors } } },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => importView(await getImportRow(trx, ctx.tenantId, req.params.id))),
  )

  app.get<{ Params: { id: string } }>(
    '/imports/:id/errors',
    {
      schema: {
        operationId: 'getImportErrors',
        tags,
        summary: 'The refused rows of an import, as CSV: row, error_code, error_message, param',
        params: idParams,
        response: { 200: { description: 'CSV, a header row then one row per refused row', content: { 'text/csv': { schema: { type: 'string' } } } }, ...errors },
      },
    },
    async (req, reply) => {
      const rows = await inTenant(req, reply, async (trx, ctx) => {
        await getImportRow(trx, ctx.tenantId, req.params.id)
        return refusedRows(trx, ctx.tenantId, req.params.id)
      })
      reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${req.params.id}-errors.csv"`)
      return stringify(rows.map((r) => [r.row, r.error_code, r.error_message, r.param ?? '']), { header: true, columns: ['row', 'error_code', 'error_message', 'param'] })
    },
  )
}

import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { dateSchema } from '../kernel/money'
import { withOptional } from '../kernel/schema'
import { startStatementRun } from '../workflows/notify-statements'
import { enqueueStatementRun } from './jobs'
import { getRun, statementPdfBytes } from './model'

const errors = { '4xx': { $ref: 'Error#' } }
const runSchema = withOptional({
  type: 'object',
  properties: {
    id: { type: 'string', description: '`str_…`' },
    object: { type: 'string', enum: ['statement_run'] },
    status: { type: 'string', enum: ['queued', 'running', 'completed', 'failed'] },
    from: { type: 'string' },
    to: { type: 'string' },
    customers: { type: ['array', 'null'], items: { type: 'string' } },
    deliver: { type: 'string', enum: ['email', 'none'] },
    total: { type: 'integer' },
    done: { type: 'integer' },
    failed: { type: 'integer' },
    error: { type: ['string', 'null'] },
    created: { type: 'string' },
    completed_at: { type: ['string', 'null'] },
    statements: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          customer: { type: 'string' },
          status: { type: 'string' },
          error: { type: ['string', 'null'] },
          notification: { type: ['string', 'null'] },
          size: { type: ['integer', 'null'] },
        },
      },
      description: 'With GET only.',
    },
  },
} as const, 'statements')

export async function statementRunRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: { from: string; to: string; customers?: string[]; deliver: 'email' | 'none' } }>(
    '/statement-runs',
    {
      schema: {
        operationId: 'createStatementRun',
        tags: ['notifications'],
        summary: 'Start a statement run: a PDF statement per customer, stored, e-mailed when asked',
        description: 'Without `customers`, every customer not deleted. `deliver: email` needs an e-mail channel (422 `channel_unavailable`); customers without an e-mail get their PDF stored only.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['from', 'to', 'deliver'],
          properties: {
            from: dateSchema,
            to: dateSchema,
            customers: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', pattern: idPattern('cus') } },
            deliver: { type: 'string', enum: ['email', 'none'] },
          },
        },
        response: { 201: runSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => startStatementRun(trx, ctx, req.body, enqueueStatementRun), { status: 201 }),
  )
  app.get<{ Params: { id: string } }>(
    '/statement-runs/:id',
    { schema: { operationId: 'getStatementRun', tags: ['notifications'], summary: 'A statement run’s progress and statements', params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('str') } } }, response: { 200: runSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRun(trx, ctx, req.params.id)),
  )
  app.get<{ Params: { id: string; statement: string } }>(
    '/statement-runs/:id/statements/:statement',
    {
      schema: {
        operationId: 'getStatementRunStatement',
        tags: ['notifications'],
        summary: 'Download one stored statement PDF of a run',
        params: {
          type: 'object',
          required: ['id', 'statement'],
          properties: { id: { type: 'string', pattern: idPattern('str') }, statement: { type: 'string', pattern: idPattern('stm') } },
        },
        response: { 200: { description: 'The PDF', content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } }, ...errors },
      },
    },
    async (req, reply) => {
      const pdf = await inTenant(req, reply, (trx, ctx) => statementPdfBytes(trx, ctx, req.params.id, req.params.statement))
      reply.type('application/pdf').header('content-disposition', `attachment; filename="${req.params.statement}.pdf"`)
      return pdf
    },
  )
}

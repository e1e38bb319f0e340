import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { agingQuery, statementParams, statementQuery, statementSchema } from './schemas'
import { agingReport, customerStatement } from './service'
import { can } from '../kernel/permissions'
import { statementCsv, statementDocument, statementPdf } from './statement'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }

export async function reportRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: { as_of?: string } }>(
    '/reports/aging',
    {
      schema: {
        operationId: 'getAgingReport',
        tags: ['reports'],
        summary: 'Receivables aging as of a date: open outstanding by days past due, unapplied credits apart',
        querystring: agingQuery,
        response: { 200: ref('AgingReport'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => agingReport(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string }; Querystring: { from?: string; to?: string; format?: 'json' | 'csv' | 'pdf' } }>(
    '/customers/:id/statement',
    {
      schema: {
        operationId: 'getCustomerStatement',
        tags: ['reports'],
        summary: 'Customer statement: opening balance, sub-ledger rows in the range, closing balance (JSON, CSV or PDF)',
        params: statementParams,
        querystring: statementQuery,
        response: {
          200: {
            description: 'The statement',
            content: {
              'application/json': { schema: statementSchema },
              'text/csv': { schema: { type: 'string' } },
              'application/pdf': { schema: { type: 'string', format: 'binary' } },
            },
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      if (req.query.format === 'pdf') {
        const includePii = can(req.ctx.access, 'customers.pii.view')
        const document = await inTenant(req, reply, (trx, ctx) => statementDocument(trx, ctx, req.params.id, req.query, includePii))
        const s = document.statement
        reply.type('application/pdf').header('content-disposition', `attachment; filename="statement-${s.customer}-${s.from}-${s.to}.pdf"`)
        return statementPdf(document)
      }
      const statement = await inTenant(req, reply, (trx, ctx) => customerStatement(trx, ctx, req.params.id, req.query))
      const name = `statement-${statement.customer}-${statement.from}-${statement.to}`
      switch (req.query.format) {
        case 'csv':
          reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`)
          return statementCsv(statement)
        default:
          reply.type('application/json; charset=utf-8')
          return statement
      }
    },
  )
}

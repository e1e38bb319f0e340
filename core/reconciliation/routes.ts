import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { postOrHold } from '../http/approvals'
import { listSchema } from '../kernel/pagination'
import { enqueueRun } from './jobs'
import { createRunBody, listRunsQuery, repairBody, repairResultSchema, runParams, runSchema, type ListRunsQuery } from './schemas'
import { getRun, listRuns, repairRun, requestRun } from './service'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['reconciliations']
const { discrepancies: _omit, ...summaryProperties } = runSchema.properties
const runSummarySchema = { type: 'object', properties: summaryProperties, required: runSchema.required.filter((k) => k !== 'discrepancies') }

export async function reconciliationRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: Record<string, never> }>(
    '/reconciliations',
    {
      // The body is optional: a bare POST queues a run.
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: {
        operationId: 'createReconciliation',
        tags,
        summary: 'Queue a reconciliation run: cached balances and open items checked against the ledger',
        body: createRunBody,
        response: { 201: ref('Reconciliation'), ...errors },
      },
    },
    async (req, reply) => {
      const run = await inTenant(req, reply, (trx, ctx) => requestRun(trx, ctx, 'manual'), { status: 201 })
      try {
        await enqueueRun(req.ctx.tenantId, run.id)
      } catch (err) {
        // The run is committed: the worker's sweep enqueues runs left queued.
        req.log.warn({ err, run: run.id }, 'enqueueing the reconciliation failed; the sweep will pick it up')
      }
      return run
    },
  )

  app.get<{ Querystring: ListRunsQuery }>(
    '/reconciliations',
    {
      schema: { operationId: 'listReconciliations', tags, summary: 'List reconciliation runs, newest first', querystring: listRunsQuery, response: { 200: listSchema(runSummarySchema), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listRuns(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/reconciliations/:id',
    {
      schema: { operationId: 'getReconciliation', tags, summary: 'Retrieve a reconciliation run with its discrepancies', params: runParams, response: { 200: ref('Reconciliation'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRun(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/reconciliations/:id/repair',
    {
      schema: {
        operationId: 'repairReconciliation',
        tags,
        summary: "Rebuild the drifting customers' cached balances and open items from the ledger (reason required, audited)",
        params: runParams,
        body: repairBody,
        response: {
          200: repairResultSchema,
          202: ref('ApprovalRequest', 'The tenant requires approval of repairs (settings approvals.repair): held as an approval request, nothing repaired.'),
          ...errors,
        },
      },
    },
    async (req, reply) =>
      postOrHold(req, reply, 'reconciliation.repair', { params: { id: req.params.id }, body: { ...req.body } }, () =>
        inTenant(req, reply, (trx, ctx) => repairRun(trx, ctx, req.params.id, req.body.reason)),
      ),
  )
}

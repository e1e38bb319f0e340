import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import type { RetentionAction } from '../kernel/plugins/contract'
import { getRetentionRun, requestRetentionRun, retentionDryRun, retentionPolicies, setRetentionPolicy } from '../workflows/retention'
import { enqueueRetentionRun } from './jobs'
import { dryRunSchema, emptyBody, policyBody, policyListSchema, policyParams, policySchema, runParams, runSchema } from './schemas'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['retention']
const optionalBody = {
  preValidation: async (req: { body: unknown }) => {
    req.body ??= {}
  },
}

export async function retentionRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/retention-policies',
    { schema: { operationId: 'listRetentionPolicies', tags, summary: 'Retention policy per data type: the retention plugin defaults with the tenant overrides', response: { 200: policyListSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => ({ object: 'list' as const, data: await retentionPolicies(trx, ctx) })),
  )

  app.put<{ Params: { data_type: string }; Body: { retain_days: number; action: RetentionAction } }>(
    '/retention-policies/:data_type',
    {
      schema: {
        operationId: 'setRetentionPolicy',
        tags,
        summary: 'Override a retention policy (documents and audit_log only archive; soft_deleted_customers only anonymize; ledger amounts are never purged)',
        params: policyParams,
        body: policyBody,
        response: { 200: policySchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => setRetentionPolicy(trx, ctx, req.params.data_type, req.body)),
  )

  app.post(
    '/retention/dry-run',
    { ...optionalBody, schema: { operationId: 'dryRunRetention', tags, summary: 'Counts per data type of what a retention run would do now; writes nothing', body: emptyBody, response: { 200: dryRunSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => retentionDryRun(trx, ctx)),
  )

  app.post(
    '/retention/runs',
    { ...optionalBody, schema: { operationId: 'createRetentionRun', tags, summary: 'Queue a retention run (it also runs nightly)', body: emptyBody, response: { 201: runSchema, ...errors } } },
    async (req, reply) => {
      const run = await inTenant(req, reply, (trx, ctx) => requestRetentionRun(trx, ctx, 'manual'), { status: 201 })
      try {
        await enqueueRetentionRun(req.ctx.tenantId, run.id)
      } catch (err) {
        // The run is committed: the worker's sweep enqueues runs left queued.
        req.log.warn({ err, run: run.id }, 'enqueueing the retention run failed; the sweep will pick it up')
      }
      return run
    },
  )

  app.get<{ Params: { id: string } }>(
    '/retention/runs/:id',
    { schema: { operationId: 'getRetentionRun', tags, summary: 'Retrieve a retention run with its counts', params: runParams, response: { 200: runSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRetentionRun(trx, ctx, req.params.id)),
  )
}

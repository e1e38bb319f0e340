import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { enqueueCreditPolicyRun } from '../jobs/credit-policy'
import { customerCredit, dryRunCreditPolicy, restoreCreditPolicyVersion, saveCreditPolicy } from '../workflows/credit-policy'
import { currentPolicy, getRun, getVersion, insertRun, listVersions, type Policy } from './model'
import {
  customerCreditSchema,
  customerParams,
  dryRunBody,
  dryRunSchema,
  ifMatchHeaders,
  policySchema,
  putPolicyBody,
  restoreBody,
  runParams,
  runSchema,
  versionParams,
  versionSchema,
  versionsQuery,
} from './schemas'

const errors = { '4xx': { $ref: 'Error#' } }
const tags = ['credit policy']
/** Rule bodies nest deeper than other bodies; the rules bound their own depth (32 operations). */
const deepBody = { maxBodyDepth: 80 }

export async function creditPolicyRoutes(app: FastifyInstance): Promise<void> {
  const withEtag = (reply: { header(k: string, v: string): unknown }, p: Policy) => {
    reply.header('ETag', `"${p.version}"`)
    return p
  }

  app.get('/credit-policy', { schema: { operationId: 'getCreditPolicy', tags, summary: 'The credit policy in force', response: { 200: policySchema, ...errors } } }, async (req, reply) =>
    withEtag(reply, await inTenant(req, reply, (trx, ctx) => currentPolicy(trx, ctx))),
  )

  app.put<{ Body: { rules: unknown[] }; Headers: { 'if-match'?: string } }>(
    '/credit-policy',
    {
      config: deepBody,
      schema: {
        operationId: 'setCreditPolicy',
        tags,
        summary: "Save the tenant's own rules as a new version",
        description:
          'With `If-Match: <version>` (stale: 412 `version_conflict`). A rule set that is not valid JSON-logic, uses an operator outside the allowed list, names an unknown fact, nests deeper than 32 operations or exceeds 64 KiB is refused with 400 `invalid_rule` and `param` naming the rule and path (e.g. `rules[2].when.and[1]`).',
        headers: ifMatchHeaders,
        body: putPolicyBody,
        response: { 200: policySchema, ...errors },
      },
    },
    async (req, reply) => withEtag(reply, await inTenant(req, reply, (trx, ctx) => saveCreditPolicy(trx, ctx, req.body.rules, req.headers['if-match']))),
  )

  app.get<{ Querystring: { limit?: number; starting_after?: number } }>(
    '/credit-policy/versions',
    { schema: { operationId: 'listCreditPolicyVersions', tags, summary: 'Saved versions, newest first (kept forever)', querystring: versionsQuery, response: { 200: { type: 'object', properties: { object: { type: 'string' }, data: { type: 'array', items: versionSchema }, has_more: { type: 'boolean' } } }, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listVersions(trx, ctx, req.query)),
  )

  app.get<{ Params: { version: number } }>(
    '/credit-policy/versions/:version',
    { schema: { operationId: 'getCreditPolicyVersion', tags, summary: 'One saved version', params: versionParams, response: { 200: versionSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getVersion(trx, ctx, req.params.version)),
  )

  app.post<{ Params: { version: number }; Headers: { 'if-match'?: string }; Body: { reason?: string } }>(
    '/credit-policy/versions/:version/restore',
    {
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: { operationId: 'restoreCreditPolicyVersion', tags, summary: 'Restore a saved version as a new version', params: versionParams, headers: ifMatchHeaders, body: restoreBody, response: { 200: policySchema, ...errors } },
    },
    async (req, reply) => withEtag(reply, await inTenant(req, reply, (trx, ctx) => restoreCreditPolicyVersion(trx, ctx, req.params.version, req.headers['if-match'], req.body.reason))),
  )

  app.post<{ Body: { rules?: unknown[]; as_of?: string; customers?: string[] } }>(
    '/credit-policy/dry-run',
    {
      config: deepBody,
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: { operationId: 'dryRunCreditPolicy', tags, summary: 'Evaluate a rule set (the saved one by default) over every customer or the listed ones; writes nothing', body: dryRunBody, response: { 200: dryRunSchema, ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => dryRunCreditPolicy(trx, ctx, req.body)),
  )

  app.post(
    '/credit-policy/runs',
    {
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: { operationId: 'createCreditPolicyRun', tags, summary: 'Start a credit-policy sweep over every customer (a job)', body: { type: 'object', additionalProperties: false, properties: {} }, response: { 201: runSchema, ...errors } },
    },
    async (req, reply) => {
      const run = await inTenant(req, reply, (trx, ctx) => insertRun(trx, ctx, 'manual'), { status: 201 })
      try {
        await enqueueCreditPolicyRun(req.ctx.tenantId, run.id)
      } catch (err) {
        // The run is committed: the worker's requeue sweep picks up runs left queued.
        req.log.warn({ err, run: run.id }, 'enqueueing the credit-policy run failed; the sweep will pick it up')
      }
      return run
    },
  )

  app.get<{ Params: { id: string } }>(
    '/credit-policy/runs/:id',
    { schema: { operationId: 'getCreditPolicyRun', tags, summary: 'A credit-policy sweep with its counts', params: runParams, response: { 200: runSchema, ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getRun(trx, ctx, req.params.id)),
  )

  app.get<{ Params: { id: string } }>(
    '/customers/:id/credit',
    {
      schema: {
        operationId: 'getCustomerCredit',
        tags,
        summary: "A customer's credit facts, score (0–100), grade (A–E) and score factors, evaluated now",
        description: 'The score model is documented in the README (Credit score): on-time ratio, amount-weighted days late, utilization, account age, disputes and chargebacks, write-offs.',
        params: customerParams,
        response: { 200: customerCreditSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => customerCredit(trx, ctx, req.params.id)),
  )
}

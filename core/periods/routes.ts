import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listSchema } from '../kernel/pagination'
import { createPeriodBody, CreatePeriodInput, listPeriodsQuery, ListPeriodsQuery, periodParams, reopenPeriodBody } from './schemas'
import { closePeriod, createPeriod, getPeriod, listPeriods, lockPeriod, reopenPeriod } from '../ledger/periods'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }

export async function periodRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: CreatePeriodInput }>(
    '/periods',
    {
      schema: {
        operationId: 'createPeriod',
        tags: ['periods'],
        summary: 'Create an accounting period (a calendar month, quarter or year)',
        body: createPeriodBody,
        response: { 201: ref('Period'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => createPeriod(trx, ctx, req.body), { status: 201 }),
  )

  app.get<{ Querystring: ListPeriodsQuery }>(
    '/periods',
    {
      schema: { operationId: 'listPeriods', tags: ['periods'], summary: 'List accounting periods', querystring: listPeriodsQuery, response: { 200: listSchema(ref('Period')), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listPeriods(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/periods/:id',
    {
      schema: { operationId: 'getPeriod', tags: ['periods'], summary: 'Retrieve an accounting period', params: periodParams, response: { 200: ref('Period'), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getPeriod(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string } }>(
    '/periods/:id/close',
    {
      schema: {
        operationId: 'closePeriod',
        tags: ['periods'],
        summary: 'Close an open period after reconciliation (refused with reconciliation_failed on drift)',
        params: periodParams,
        response: { 200: ref('Period'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => closePeriod(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/periods/:id/reopen',
    {
      schema: {
        operationId: 'reopenPeriod',
        tags: ['periods'],
        summary: 'Reopen a closed period (audited with the reason); a locked period stays locked',
        params: periodParams,
        body: reopenPeriodBody,
        response: { 200: ref('Period'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => reopenPeriod(trx, ctx, req.params.id, req.body.reason)),
  )

  app.post<{ Params: { id: string } }>(
    '/periods/:id/lock',
    {
      schema: {
        operationId: 'lockPeriod',
        tags: ['periods'],
        summary: 'Lock a closed period: final',
        params: periodParams,
        response: { 200: ref('Period'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => lockPeriod(trx, ctx, req.params.id)),
  )
}

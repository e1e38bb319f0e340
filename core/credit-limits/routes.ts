import { customerFilter } from '../customers/service'
import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { idPattern } from '../kernel/ids'
import { can } from '../kernel/permissions'
import { listQueryProperties, listSchema, type ListQuery } from '../kernel/pagination'
import { creditLimitHistory } from '../customers/credit-limit-history'
import { approveCreditLimitRequest, createCreditLimitRequest, rejectCreditLimitRequest } from '../workflows/credit-limit'
import { getCreditLimitRequest, listCreditLimitRequests, type CreditLimitRequestView } from './model'
import {
  CREDIT_LIMIT_REQUEST_STATUSES,
  creditLimitChangeSchema,
  createCreditLimitRequestBody,
  decideCreditLimitBody,
  rejectCreditLimitBody,
  type CreateCreditLimitRequestInput,
  type CreditLimitRequestStatus,
} from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }
const params = (prefix: string) => ({ type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern(prefix) } } })

export async function creditLimitRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Params: { id: string }; Body: CreateCreditLimitRequestInput }>(
    '/customers/:id/credit-limit-requests',
    {
      schema: {
        operationId: 'createCustomerCreditLimitRequest',
        tags: ['credit limits'],
        summary: 'Request a new credit limit (or a temporary one)',
        description: [
          'Any key that may edit the customer (`customers.basic.edit`; a sales rep for its own customers only) may ask.',
          'A decrease (or a first limit where there was none) applies at once: `status: approved`.',
          'An increase waits (`pending`) for a different key with `credit_limits.approve` — unless the tenant setting `approvals.credit_limit_increase` is false and the requester itself holds `credit_limits.approve`, in which case it applies at once.',
          'With `expires_on` it is a temporary limit: an increase when above the current temporary limit, else above the regular limit.',
          '`from` is left out for a key that may not see balances and limits.',
        ].join(' '),
        params: params('cus'),
        body: createCreditLimitRequestBody,
        response: { 201: ref('CreditLimitRequest'), ...errors },
      },
    },
    async (req, reply) => {
      const view: CreditLimitRequestView = await inTenant(req, reply, (trx, ctx) => createCreditLimitRequest(trx, ctx, req.params.id, req.body), { status: 201 })
      if (can(req.ctx.access, 'customers.balance.view')) return view
      const { from: _from, ...rest } = view
      return rest
    },
  )

  app.get<{ Params: { id: string }; Querystring: ListQuery }>(
    '/customers/:id/credit-limit-history',
    {
      schema: {
        operationId: 'getCustomerCreditLimitHistory',
        tags: ['credit limits'],
        summary: "Every change of a customer's credit limit or temporary limit",
        description: '`source`: `request` (a credit-limit request), `patch` (PATCH /v1/customers/:id by a role that may edit limits), `policy`, `import`. Newest first.',
        params: params('cus'),
        querystring: { type: 'object', additionalProperties: false, properties: listQueryProperties },
        response: { 200: listSchema(creditLimitChangeSchema), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => creditLimitHistory(trx, ctx, req.params.id, req.query)),
  )

  app.get<{ Querystring: ListQuery & { status?: CreditLimitRequestStatus; customer?: string } }>(
    '/credit-limit-requests',
    {
      schema: {
        operationId: 'listCreditLimitRequests',
        tags: ['credit limits'],
        summary: 'List credit-limit requests',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...listQueryProperties, status: { type: 'string', enum: CREDIT_LIMIT_REQUEST_STATUSES }, customer: { type: 'string', pattern: idPattern('cus') } },
        },
        response: { 200: listSchema(ref('CreditLimitRequest')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, async (trx, ctx) => listCreditLimitRequests(trx, ctx, await customerFilter(trx, ctx, req.query))),
  )

  app.get<{ Params: { id: string } }>(
    '/credit-limit-requests/:id',
    { schema: { operationId: 'getCreditLimitRequest', tags: ['credit limits'], summary: 'Get a credit-limit request', params: params('clr'), response: { 200: ref('CreditLimitRequest'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getCreditLimitRequest(trx, ctx, req.params.id)),
  )

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/credit-limit-requests/:id/approve',
    {
      schema: {
        operationId: 'approveCreditLimitRequest',
        tags: ['credit limits'],
        summary: 'Approve a pending credit-limit increase',
        description: 'A key other than the requester (and of another `user`) with `credit_limits.approve`: the requester gets 403 `self_approval`; a decided request 409 `approval_not_pending`.',
        params: params('clr'),
        body: decideCreditLimitBody,
        response: { 200: ref('CreditLimitRequest'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => approveCreditLimitRequest(trx, ctx, req.params.id, req.body ?? {})),
  )

  app.post<{ Params: { id: string }; Body: { reason: string } }>(
    '/credit-limit-requests/:id/reject',
    {
      schema: {
        operationId: 'rejectCreditLimitRequest',
        tags: ['credit limits'],
        summary: 'Reject a pending credit-limit request (reason required)',
        params: params('clr'),
        body: rejectCreditLimitBody,
        response: { 200: ref('CreditLimitRequest'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => rejectCreditLimitRequest(trx, ctx, req.params.id, req.body)),
  )
}

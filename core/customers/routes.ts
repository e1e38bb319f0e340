import type { FastifyInstance, FastifyReply } from 'fastify'
import { inTenant } from '../http/tx'
import { assertTenantKey } from '../http/auth'
import { listSchema } from '../kernel/pagination'
import {
  createCustomerBody,
  customerParams,
  deleteCustomerBody,
  ifMatchHeaders,
  listCustomersQuery,
  restoreCustomerBody,
  updateCustomerBody,
  type CreateCustomerInput,
  type ListCustomersQuery,
  type UpdateCustomerInput,
} from './schemas'
import { type AssigneeCheck, createCustomer, deleteCustomer, getCustomer, listCustomers, restoreCustomer, updateCustomer } from './service'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }

/** `assigned_to` names an active API key of the tenant, else 404 `resource_missing` (param `assigned_to`). */
const assertAssignee: AssigneeCheck = (trx, ctx, keyId) => assertTenantKey(trx, ctx.tenantId, keyId, 'assigned_to')

/** Single-customer responses carry their version as a strong ETag, for If-Match on PATCH. */
function withEtag<T extends { version: number }>(reply: FastifyReply, customer: T): T {
  reply.header('etag', `"${customer.version}"`)
  return customer
}

export async function customerRoutes(app: FastifyInstance): Promise<void> {
  app.post<{ Body: CreateCustomerInput }>(
    '/customers',
    {
      schema: {
        operationId: 'createCustomer',
        tags: ['customers'],
        summary: 'Create a customer (and its zero balance); lists possible duplicates',
        body: createCustomerBody,
        response: { 201: ref('CreatedCustomer'), ...errors },
      },
    },
    async (req, reply) => withEtag(reply, await inTenant(req, reply, (trx, ctx) => createCustomer(trx, ctx, req.body, assertAssignee), { status: 201 })),
  )

  app.get<{ Querystring: ListCustomersQuery }>(
    '/customers',
    {
      schema: {
        operationId: 'listCustomers',
        tags: ['customers'],
        summary: 'List customers, newest first (deleted ones only with include_deleted=true)',
        querystring: listCustomersQuery,
        response: { 200: listSchema(ref('Customer')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listCustomers(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/customers/:id',
    {
      schema: {
        operationId: 'getCustomer',
        tags: ['customers'],
        summary: 'Retrieve a customer (deleted customers too)',
        params: customerParams,
        response: { 200: ref('Customer'), ...errors },
      },
    },
    async (req, reply) => withEtag(reply, await inTenant(req, reply, (trx, ctx) => getCustomer(trx, ctx, req.params.id))),
  )

  app.patch<{ Params: { id: string }; Body: UpdateCustomerInput; Headers: { 'if-match'?: string } }>(
    '/customers/:id',
    {
      schema: {
        operationId: 'updateCustomer',
        tags: ['customers'],
        summary: 'Update a customer; with If-Match, a stale version gets 412',
        params: customerParams,
        headers: ifMatchHeaders,
        body: updateCustomerBody,
        response: { 200: ref('Customer'), ...errors },
      },
    },
    async (req, reply) =>
      withEtag(reply, await inTenant(req, reply, (trx, ctx) => updateCustomer(trx, ctx, req.params.id, req.body, req.headers['if-match'], assertAssignee))),
  )

  app.delete<{ Params: { id: string }; Body: { reason: string } }>(
    '/customers/:id',
    {
      schema: {
        operationId: 'deleteCustomer',
        tags: ['customers'],
        summary: 'Soft-delete a customer with zero balance and no open documents; reason required',
        params: customerParams,
        body: deleteCustomerBody,
        response: { 200: ref('Customer'), ...errors },
      },
    },
    async (req, reply) => withEtag(reply, await inTenant(req, reply, (trx, ctx) => deleteCustomer(trx, ctx, req.params.id, req.body.reason))),
  )

  app.post<{ Params: { id: string }; Body: { reason?: string } }>(
    '/customers/:id/restore',
    {
      // The body is optional: a bare POST restores without a reason.
      preValidation: async (req) => {
        req.body ??= {}
      },
      schema: {
        operationId: 'restoreCustomer',
        tags: ['customers'],
        summary: 'Restore a soft-deleted customer to its previous status',
        params: customerParams,
        body: restoreCustomerBody,
        response: { 200: ref('Customer'), ...errors },
      },
    },
    async (req, reply) =>
      withEtag(reply, await inTenant(req, reply, (trx, ctx) => restoreCustomer(trx, ctx, req.params.id, req.body.reason ?? null))),
  )
}

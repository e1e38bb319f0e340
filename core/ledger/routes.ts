import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { listQueryProperties, listSchema, ListQuery } from '../kernel/pagination'
import { idPattern } from '../kernel/ids'
import { dateSchema } from '../kernel/money'
import { accountSchema, ANY_ID, trialBalanceSchema } from './schemas'
import { getJournalEntry, listAccounts, listJournalEntries, trialBalance } from './reads'
import { customerTransactions } from '../customers/service'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }

export async function ledgerRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Params: { id: string }; Querystring: ListQuery & { include_merged?: boolean } }>(
    '/customers/:id/transactions',
    {
      schema: {
        operationId: 'listCustomerTransactions',
        tags: ['ledger'],
        summary: 'The customer sub-ledger, newest first',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('cus') } } },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            starting_after: { type: 'string', pattern: idPattern('txn') },
            include_merged: { type: 'boolean', default: false, description: 'Also the rows of the customers merged into this one.' },
          },
        },
        response: { 200: listSchema(ref('CustomerTransaction')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => customerTransactions(trx, ctx, req.params.id, req.query)),
  )

  app.get<{ Querystring: ListQuery & { source?: string } }>(
    '/journal-entries',
    {
      schema: {
        operationId: 'listJournalEntries',
        tags: ['ledger'],
        summary: 'List journal entries with their lines, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            starting_after: { type: 'string', pattern: idPattern('je') },
            source: { type: 'string', pattern: ANY_ID, description: 'Only entries posted by this document (invoice, payment, …).' },
          },
        },
        response: { 200: listSchema(ref('JournalEntry')), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listJournalEntries(trx, ctx, req.query)),
  )

  app.get<{ Params: { id: string } }>(
    '/journal-entries/:id',
    {
      schema: {
        operationId: 'getJournalEntry',
        tags: ['ledger'],
        summary: 'Retrieve a journal entry with its lines',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: idPattern('je') } } },
        response: { 200: ref('JournalEntry'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getJournalEntry(trx, ctx, req.params.id)),
  )

  app.get(
    '/accounts',
    {
      schema: { operationId: 'listAccounts', tags: ['ledger'], summary: 'The tenant’s chart of accounts', response: { 200: listSchema(accountSchema), ...errors } },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listAccounts(trx, ctx)),
  )

  app.get<{ Querystring: { as_of?: string } }>(
    '/trial-balance',
    {
      schema: {
        operationId: 'getTrialBalance',
        tags: ['ledger'],
        summary: 'Trial balance as of a date, aggregated from the journal',
        querystring: { type: 'object', additionalProperties: false, properties: { as_of: { ...dateSchema, description: 'Default: the tenant’s today.' } } },
        response: { 200: trialBalanceSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => trialBalance(trx, ctx, req.query)),
  )
}

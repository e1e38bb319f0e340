import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { customerContact } from '../customers/service'
import { customerConsents, insertCommunications, insertConsent, listCommunications, type CommunicationType } from '../communications/model'
import type { ListQuery } from '../kernel/pagination'

/** The communications log and consents of one customer the caller can see (404 otherwise). */

export interface LogCommunicationInput {
  type: CommunicationType
  direction: 'inbound' | 'outbound'
  summary: string
  occurred_at?: string
  promised_amount?: number
  promised_date?: string
}

export async function logCommunication(trx: Trx, ctx: RequestContext, customerId: string, input: LogCommunicationInput) {
  await customerContact(trx, ctx, customerId)
  const promise = input.type === 'promise_to_pay'
  if (promise && (input.promised_amount === undefined || input.promised_date === undefined)) {
    throw new AppError('validation_failed', 'A promise to pay needs promised_amount and promised_date.', { param: input.promised_amount === undefined ? 'promised_amount' : 'promised_date' })
  }
  if (!promise && (input.promised_amount !== undefined || input.promised_date !== undefined)) {
    throw new AppError('validation_failed', 'promised_amount and promised_date belong to a promise_to_pay only.', { param: input.promised_amount !== undefined ? 'promised_amount' : 'promised_date' })
  }
  if (input.occurred_at && Number.isNaN(Date.parse(input.occurred_at))) throw new AppError('validation_failed', 'occurred_at must be an ISO-8601 instant.', { param: 'occurred_at' })
  const [view] = await insertCommunications(trx, ctx, [{ customer_id: customerId, ...input }])
  await recordAudit(trx, ctx, { action: 'communication.created', entity_type: 'communication', entity_id: view.id, after: view })
  await emitEvent(trx, ctx, 'communication.created', view)
  return view
}

export async function customerCommunications(trx: Trx, ctx: RequestContext, customerId: string, q: ListQuery & { type?: CommunicationType }) {
  await customerContact(trx, ctx, customerId)
  return listCommunications(trx, ctx, customerId, q)
}

export async function recordConsent(trx: Trx, ctx: RequestContext, customerId: string, input: { purpose: string; granted: boolean; source: string }) {
  await customerContact(trx, ctx, customerId)
  const view = await insertConsent(trx, ctx, customerId, input)
  await recordAudit(trx, ctx, { action: input.granted ? 'consent.granted' : 'consent.withdrawn', entity_type: 'consent', entity_id: view.id, after: view })
  return view
}

export async function consentsOf(trx: Trx, ctx: RequestContext, customerId: string) {
  await customerContact(trx, ctx, customerId)
  return customerConsents(trx, ctx, customerId)
}

import type { FastifyInstance } from 'fastify'
import { errorResponseSchema } from './errors'
import { apiKeySchema, apiKeyWithSecretSchema, tenantSchema } from '../../tenants/schemas'
import { createdCustomerView, customerView } from '../customers/schemas'
import { invoiceSchema } from '../invoices/schemas'
import { paymentSchema } from '../payments/schemas'
import { allocationSchema } from '../allocations/schemas'
import { creditNoteSchema } from '../credit-notes/schemas'
import { refundSchema } from '../refunds/schemas'
import { writeOffSchema } from '../write-offs/schemas'
import { adjustmentSchema } from '../adjustments/schemas'
import { reversalSchema } from '../reversals/schemas'
import { saleSchema } from '../sales/schemas'
import { periodSchema } from '../periods/schemas'
import { journalEntrySchema, transactionSchema } from '../ledger/schemas'
import { agingSchema, statementSchema } from '../reports/schemas'
import { attemptView, deliveryView, endpointView, endpointWithSecretView } from '../webhooks/schemas'
import { eventView } from '../events/schemas'
import { approvalRequestSchema } from '../approvals/schemas'
import { creditLimitRequestSchema } from '../credit-limits/schemas'
import { disputeSchema } from '../disputes/schemas'
import { importSchema } from '../imports/schemas'
import { settingsSchema } from '../settings/schemas'
import { runSchema as reconciliationSchema } from '../reconciliation/schemas'
import { channelSchema, notificationSchema } from '../notifications/schemas'

/**
 * The named schemas of the OpenAPI document (`components.schemas.<Name>`), added once to the root
 * app: routes answer with `ref('Invoice')`, which fastify resolves for serialization and the
 * document shows as `#/components/schemas/Invoice`.
 */
export const COMPONENTS = {
  Error: errorResponseSchema,
  Tenant: tenantSchema,
  ApiKey: apiKeySchema,
  ApiKeyWithSecret: apiKeyWithSecretSchema,
  Customer: customerView,
  CreatedCustomer: createdCustomerView,
  Invoice: invoiceSchema,
  Payment: paymentSchema,
  Allocation: allocationSchema,
  CreditNote: creditNoteSchema,
  Refund: refundSchema,
  WriteOff: writeOffSchema,
  Adjustment: adjustmentSchema,
  Reversal: reversalSchema,
  Sale: saleSchema,
  Period: periodSchema,
  JournalEntry: journalEntrySchema,
  CustomerTransaction: transactionSchema,
  AgingReport: agingSchema,
  Statement: statementSchema,
  WebhookEndpoint: endpointView,
  WebhookEndpointWithSecret: endpointWithSecretView,
  WebhookDelivery: deliveryView,
  WebhookDeliveryAttempt: attemptView,
  Event: eventView,
  ApprovalRequest: approvalRequestSchema,
  CreditLimitRequest: creditLimitRequestSchema,
  Dispute: disputeSchema,
  Import: importSchema,
  Settings: settingsSchema,
  Reconciliation: reconciliationSchema,
  NotificationChannel: channelSchema,
  Notification: notificationSchema,
} as const

export type ComponentName = keyof typeof COMPONENTS

type Schema = Record<string, unknown>

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The response convention: every property a response object lists is always present (nullable ones
 * as `null`), unless the object says otherwise with its own `required`. Returns a copy of `schema`
 * in which each object with properties and no `required` requires them all. fast-json-stringify then
 * refuses to answer without one, so the document a generated client trusts is also what is sent.
 */
export function withRequired<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withRequired) as T
  if (!isObject(schema)) return schema
  const out: Schema = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRequired(v)]))
    else if (['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else'].includes(key)) out[key] = withRequired(value)
    else out[key] = value
  }
  if (isObject(out.properties) && Object.keys(out.properties).length > 0 && out.required === undefined) out.required = Object.keys(out.properties)
  return out as T
}

/**
 * Response schemas of every route get `withRequired` (registered on the root app, before the routes,
 * so it runs for every route of every child plugin).
 */
export function registerResponseConvention(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response
    if (isObject(response)) route.schema = { ...route.schema, response: Object.fromEntries(Object.entries(response).map(([status, s]) => [status, withRequired(s)])) }
  })
}

/** Adds every component (each with the response convention of `withRequired`). */
export function registerComponents(app: FastifyInstance): void {
  for (const [name, schema] of Object.entries(COMPONENTS)) {
    const { $id: _id, ...body } = schema as Schema
    app.addSchema({ $id: name, ...withRequired(body) })
  }
}

/** A `$ref` to a component, for a route's `response` (`description` becomes the response's description). */
export function ref(name: ComponentName, description?: string): { $ref: string; description?: string } {
  return description ? { $ref: `${name}#`, description } : { $ref: `${name}#` }
}

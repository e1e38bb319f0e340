import type { Trx } from '../../kernel/db/knex'
import type { RequestContext } from '../../kernel/context'
import { notFound } from '../../kernel/errors'
import { lockCustomers, type CustomerState } from '../../ledger/engine'
import type { Plan } from '../../ledger/plan'
import { invoiceLines, lockInvoices, type InvoiceLineRow, type InvoiceRow } from '../../invoices/model'
import { liveAllocationIds, lockAllocation, type AllocationRow } from '../../allocations/model'
import { lockCreditSource, type CreditSource } from './credit-sources'

/**
 * Locks through a plan: a row already locked by an earlier request of the batch is served as the
 * plan holds it (with what that request will write), so each request is checked against the state
 * the requests before it leave. Lock order is the ledger's: customers (id order) first, then
 * invoices (id order), then credit sources.
 */

/** Locks the customers not yet held, in id order; returns the held states (absent: missing or another tenant's). */
export async function holdCustomers(trx: Trx, plan: Plan, ctx: RequestContext, ids: string[]): Promise<Map<string, CustomerState>> {
  const missing = [...new Set(ids)].filter((id) => !plan.held('customer', id))
  if (missing.length) {
    const { customers } = await lockCustomers(trx, ctx, missing)
    for (const [id, c] of customers) plan.hold('customer', id, c, id)
  }
  const out = new Map<string, CustomerState>()
  for (const id of ids) {
    const c = plan.held<CustomerState>('customer', id)
    if (c) out.set(id, c)
  }
  return out
}

export async function holdCustomer(trx: Trx, plan: Plan, ctx: RequestContext, id: string, param = 'customer'): Promise<CustomerState> {
  const c = (await holdCustomers(trx, plan, ctx, [id])).get(id)
  if (!c) throw notFound('customer', id, param)
  return c
}

/** Locks invoices of the held customer (id order) not yet held; another customer's answers 404. */
export async function holdInvoices(trx: Trx, plan: Plan, ctx: RequestContext, ids: string[], customerId: string): Promise<Map<string, InvoiceRow>> {
  const missing = [...new Set(ids)].filter((id) => !plan.held('invoice', id))
  if (missing.length) for (const [id, inv] of await lockInvoices(trx, ctx, missing, customerId)) plan.hold('invoice', id, inv, customerId)
  const out = new Map<string, InvoiceRow>()
  for (const id of ids) {
    const inv = plan.held<InvoiceRow>('invoice', id)!
    if (inv.customer_id !== customerId) throw notFound('invoice', id, 'invoice')
    out.set(id, inv)
  }
  return out
}

/** Locks a payment or credit note of the held customer, once per plan. */
export async function holdCreditSource(trx: Trx, plan: Plan, ctx: RequestContext, customerId: string, id: string, param = 'source'): Promise<CreditSource> {
  const held = plan.held<CreditSource>('credit_source', id)
  if (held) {
    if (held.customer_id !== customerId) throw notFound(held.type === 'payment' ? 'payment' : 'credit note', id, param)
    return held
  }
  return plan.hold('credit_source', id, await lockCreditSource(trx, ctx, customerId, id, param), customerId)
}

/**
 * The lines of a held invoice, as the plan holds them (read once per plan, under the invoice lock;
 * each line is held on its own, so a refused request's changes to it roll back).
 */
export async function holdInvoiceLines(trx: Trx, plan: Plan, ctx: RequestContext, invoiceId: string, customerId: string): Promise<InvoiceLineRow[]> {
  const held = plan.held<{ line_nos: number[] }>('invoice_lines', invoiceId)
  if (held) return held.line_nos.map((no) => plan.held<InvoiceLineRow>('invoice_line', `${invoiceId}:${no}`)!)
  const lines = await invoiceLines(trx, ctx, invoiceId)
  plan.hold('invoice_lines', invoiceId, { line_nos: lines.map((l) => l.line_no) }, customerId)
  return lines.map((l) => plan.hold('invoice_line', `${invoiceId}:${l.line_no}`, l, customerId))
}

/** Locks an allocation of the held customer, once per plan. */
export async function holdAllocation(trx: Trx, plan: Plan, ctx: RequestContext, customerId: string, id: string): Promise<AllocationRow> {
  const held = plan.held<AllocationRow>('allocation', id)
  if (held) return held
  return plan.hold('allocation', id, await lockAllocation(trx, ctx, customerId, id), customerId)
}

/** Live allocations of an invoice or a credit source, less those the plan has reversed. */
export async function liveAllocations(trx: Trx, plan: Plan, ctx: RequestContext, by: { invoice_id: string } | { source_id: string }): Promise<string[]> {
  return (await liveAllocationIds(trx, ctx, by)).filter((id) => plan.held<AllocationRow>('allocation', id)?.status !== 'reversed')
}

import type { Trx } from '../../kernel/db/knex'
import type { RequestContext } from '../../kernel/context'
import { AppError, notFound } from '../../kernel/errors'
import { ledgerContext, type CustomerState, type LedgerContext } from '../../ledger/engine'
import { Plan } from '../../ledger/plan'
import { holdCustomers } from './locks'

/**
 * Group posting of one kind of document: the requests of a batch (core/http/batch.ts) are planned
 * one after the other into one plan and written with one statement per table.
 *
 * Lock: every request's customer first, all in id order in one statement, so two batches cannot
 * deadlock on customers. Plan: each request against the held state the requests before it leave;
 * a refused request rolls its part of the plan back and answers its own error. Write: the plan, in
 * one statement. A request therefore gets exactly the answer it would get alone, in arrival order.
 */

export interface BatchItem<I> {
  ctx: RequestContext
  input: I
}

export interface BatchSpec<I, O> {
  /** The customer a request posts for (read without a lock: only to know which customer to lock). */
  customerOf(ctx: RequestContext, input: I): string | Promise<string>
  /** Param named when the customer is not found (default `customer`). */
  customerParam?: string
  /** Plans one request against its held customer: every check before anything is planned. */
  plan(plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, input: I): Promise<O>
}

export async function postInBatch<I, O>(trx: Trx, items: BatchItem<I>[], spec: BatchSpec<I, O>): Promise<(O | AppError)[]> {
  const first = items[0].ctx
  const lc = await ledgerContext(trx, first)
  const plan = new Plan(first.tenantId)
  const outcomes: (O | AppError)[] = []
  const customerIds: (string | null)[] = []
  for (const [i, { ctx, input }] of items.entries()) {
    try {
      customerIds[i] = await spec.customerOf(ctx, input)
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      outcomes[i] = err
      customerIds[i] = null
    }
  }
  await holdCustomers(trx, plan, first, customerIds.filter((id): id is string => id !== null))
  for (const [i, { ctx, input }] of items.entries()) {
    const customerId = customerIds[i]
    if (customerId === null) continue
    const step = plan.mark(customerId)
    try {
      const customer = plan.held<CustomerState>('customer', customerId)
      if (!customer) throw notFound('customer', customerId, spec.customerParam ?? 'customer')
      outcomes[i] = await spec.plan(plan, ctx, lc, customer, input)
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      plan.discard(step)
      outcomes[i] = err
    }
  }
  await plan.write(trx)
  return outcomes
}


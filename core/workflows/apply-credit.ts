import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCustomerUsable, CustomerState, LedgerContext, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import type { AllocationView } from '../allocations/model'
import type { CreateAllocationInput } from '../allocations/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { assertSourceLive, creditSourceCustomer, planUnapplied } from './steps/credit-sources'
import { holdCreditSource, holdInvoices } from './steps/locks'
import { assertSettles, planAllocations, planBaseShares } from './steps/settle'

/**
 * Workflow: apply a payment's or credit note's unapplied credit to an invoice of the same customer,
 * today: Dr advances / Cr AR (at the invoice's AR base share; the rate difference is realized FX).
 * Lock customer → source → invoice; plan every check; one write. POST /v1/allocations requests of a
 * tenant are planned together.
 */
export async function planApplyCredit(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  input: CreateAllocationInput,
): Promise<AllocationView> {
  assertCustomerUsable(customer)
  const source = await holdCreditSource(trx, plan, ctx, customer.id, input.source)
  assertSourceLive(source)
  const inv = (await holdInvoices(trx, plan, ctx, [input.invoice], customer.id)).get(input.invoice)!
  if (inv.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param: 'invoice' })
  if (input.amount > source.unapplied_amount) {
    throw new AppError('over_allocation', `The amount exceeds ${source.id}'s unapplied amount ${source.unapplied_amount}.`, { param: 'amount' })
  }
  const settlement = { inv, amount: input.amount }
  assertSettles(settlement, 'invoice')
  const [base] = await planBaseShares(trx, plan, ctx, [settlement])

  const id = newId('alc')
  const entry = await plan.post(trx, ctx, {
    event: 'advance_applied',
    source_type: 'allocation',
    source_id: id,
    entry_date: lc.today,
    currency: source.currency,
    base_currency: lc.base_currency,
    exchange_rate: source.exchange_rate,
    lines: [
      { role: 'advances', side: 'debit', amount: input.amount, customer_id: customer.id },
      { role: 'ar', side: 'credit', amount: input.amount, customer_id: customer.id, base },
    ],
  })
  const balance = stageBalanceChange(ctx, customer, { pending: -input.amount, advance: -input.amount })
  plan.balance(balance)
  planUnapplied(plan, source, -input.amount)
  const [view] = planAllocations(plan, ctx, customer, { type: source.type, id: source.id, journal_entry_id: entry.id, date: lc.today }, [
    { ...settlement, base, id },
  ])
  return view
}

/** POST /v1/allocations, batched: each request's customer is its source's. */
export function createAllocations(trx: Trx, items: BatchItem<CreateAllocationInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (ctx, input) => creditSourceCustomer(trx, ctx, input.source),
    plan: (plan, ctx, lc, customer, input) => planApplyCredit(trx, plan, ctx, lc, customer, input),
  })
}

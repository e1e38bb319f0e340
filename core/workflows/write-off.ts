import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { assertCustomerUsable, CustomerState, LedgerContext, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { getInvoiceRow, planOutstanding } from '../invoices/model'
import { planWriteOffRow, writeOffView } from '../write-offs/model'
import type { CreateWriteOffInput } from '../write-offs/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { holdInvoices } from './steps/locks'
import { planBaseShares } from './steps/settle'

/**
 * Workflow: write off part of an invoice (POST /v1/write-offs, and a short payment's write_off):
 * Dr bad_debt / Cr ar at the invoice's AR base share, outstanding −= amount, a `write_off`
 * sub-ledger row.
 */

export interface WriteOffInput {
  invoice_id: string
  amount: number
  reason: string
  write_off_date: string
  payment_id?: string | null
}

/** Plans a write-off of an invoice of the held customer (every check first). */
export async function planWriteOff(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, input: WriteOffInput) {
  assertCustomerUsable(customer)
  const inv = (await holdInvoices(trx, plan, ctx, [input.invoice_id], customer.id)).get(input.invoice_id)!
  if (inv.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param: 'invoice' })
  if (input.amount > inv.outstanding) {
    throw new AppError('write_off_exceeds_outstanding', `The write-off ${input.amount} exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  }
  const id = newId('wo')
  const [base] = await planBaseShares(trx, plan, ctx, [{ inv, amount: input.amount }])
  const entry = await plan.post(trx, ctx, {
    event: 'write_off',
    source_type: 'write_off',
    source_id: id,
    entry_date: input.write_off_date,
    currency: inv.currency,
    base_currency: lc.base_currency,
    exchange_rate: inv.exchange_rate,
    memo: input.reason,
    lines: [
      { role: 'bad_debt', side: 'debit', amount: input.amount },
      { role: 'ar', side: 'credit', amount: input.amount, customer_id: customer.id, base },
    ],
  })
  const row = planWriteOffRow(
    plan,
    ctx,
    {
      id,
      customer_id: customer.id,
      invoice_id: inv.id,
      payment_id: input.payment_id ?? null,
      amount: input.amount,
      base_amount: base,
      reason: input.reason,
      write_off_date: input.write_off_date,
      journal_entry_id: entry.id,
    },
    customer.locked_at,
  )
  planOutstanding(plan, ctx, inv, -input.amount)
  plan.hold('invoice_base', inv.id, { base: 0 }, customer.id).base += base
  const staged = stageBalanceChange(ctx, customer, {
    pending: -input.amount,
    advance: 0,
    txn: { type: 'write_off', reference: inv.number, source_type: 'write_off', source_id: id, posting_date: input.write_off_date, journal_entry_id: entry.id, reason: input.reason },
  })
  plan.balance(staged)
  const view = writeOffView(row, staged.txn!.id)
  plan.audit(ctx, { action: 'write_off.created', entity_type: 'write_off', entity_id: id, after: { invoice: inv.id, amount: input.amount, payment: input.payment_id ?? null }, reason: input.reason })
  plan.event(ctx, 'write_off.created', view)
  return view
}

/** POST /v1/write-offs, batched: each request's customer is the invoice's (customer → invoice lock order). */
export function createWriteOffs(trx: Trx, items: BatchItem<CreateWriteOffInput>[]) {
  return postInBatch(trx, items, {
    customerOf: async (ctx, input) => (await getInvoiceRow(trx, ctx, input.invoice, 'invoice')).customer_id,
    plan: (plan, ctx, lc, customer, input) =>
      planWriteOff(trx, plan, ctx, lc, customer, {
        invoice_id: input.invoice,
        amount: input.amount,
        reason: input.reason,
        write_off_date: input.posting_date ?? lc.today,
      }),
  })
}

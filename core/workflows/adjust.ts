import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { addDays } from '../kernel/dates'
import { assertCustomerUsable, CustomerState, documentRate, LedgerContext, nextNumber, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { planInvoiceRow } from '../invoices/model'
import { planCreditNoteRow } from '../credit-notes/model'
import { adjustmentView, planAdjustmentRow } from '../adjustments/model'
import type { CreateAdjustmentInput } from '../adjustments/schemas'
import { postInBatch, type BatchItem } from './steps/batch'

/**
 * Workflow: adjust a customer's balance (POST /v1/adjustments). Positive: a debit note (an invoice
 * of kind `debit_note`, numbered DN-…, one line, no tax: Dr AR / Cr Other income) that payments
 * settle like any invoice; no credit-limit check, it corrects what the customer already owes.
 * Negative: a credit adjustment, Dr Other income / Cr Customer advances, recorded as a credit note
 * without an invoice so the credit can later be allocated or refunded like any other unapplied
 * credit. The sub-ledger row's source is that invoice or credit note, so reversing it follows the
 * invoice or credit-note rules. Requests of a tenant are planned together.
 */
export async function planAdjustment(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  input: CreateAdjustmentInput & { due_date?: string },
  kind: 'adjustment' | 'opening_balance' = 'adjustment',
) {
  // An opening balance (imports) is the same document against Opening balance equity, not income.
  const counter = kind === 'opening_balance' ? 'opening_balance_equity' : 'other_income'
  assertCustomerUsable(customer)
  const rate = documentRate(customer.currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const date = input.posting_date ?? lc.today
  const debit = input.amount > 0
  const amount = Math.abs(input.amount)
  const docId = newId(debit ? 'inv' : 'cn')
  const entry = await plan.post(trx, ctx, {
    event: kind,
    source_type: debit ? 'invoice' : 'credit_note',
    source_id: docId,
    entry_date: date,
    currency: customer.currency,
    base_currency: lc.base_currency,
    exchange_rate: rate,
    memo: input.reason,
    lines: debit
      ? [
          { role: 'ar', side: 'debit', amount, customer_id: customer.id },
          { role: counter, side: 'credit', amount },
        ]
      : [
          { role: counter, side: 'debit', amount },
          { role: 'advances', side: 'credit', amount, customer_id: customer.id },
        ],
  })
  const number = await nextNumber(trx, ctx, debit ? 'debit_note' : 'credit_note', debit ? 'DN' : 'CN')
  const staged = stageBalanceChange(ctx, customer, {
    pending: debit ? amount : 0,
    advance: debit ? 0 : amount,
    txn: {
      type: debit ? 'debit_note' : 'adjustment',
      reference: number,
      source_type: debit ? 'invoice' : 'credit_note',
      source_id: docId,
      posting_date: date,
      journal_entry_id: entry.id,
      reason: input.reason,
    },
  })
  plan.balance(staged)
  if (debit) {
    planInvoiceRow(
      plan,
      ctx,
      {
        id: docId,
        number,
        kind: 'debit_note',
        customer_id: customer.id,
        currency: customer.currency,
        exchange_rate: rate,
        issue_date: date,
        due_date: input.due_date ?? addDays(date, customer.payment_terms_days),
        subtotal: amount,
        tax: 0,
        total: amount,
        total_base: mulRound(amount, rate, 'exchange_rate'),
        memo: input.reason,
        sale_id: null,
        journal_entry_id: entry.id,
        credit_override_reason: null,
        created_by: ctx.keyId ?? ctx.role,
      },
      [{ line_no: 1, description: input.reason, product_ref: null, quantity: '1', unit_amount: amount, tax_rate: '0', unit_cost: null, net_amount: amount, tax_amount: 0 }],
      customer.locked_at,
    )
  } else {
    planCreditNoteRow(
      plan,
      ctx,
      {
        id: docId, number, customer_id: customer.id, invoice_id: null, currency: customer.currency, exchange_rate: rate,
        subtotal: amount, tax: 0, amount, unapplied_amount: amount, reason: input.reason, issue_date: date, journal_entry_id: entry.id,
      },
      [],
      customer.locked_at,
    )
  }
  const id = newId('adj')
  const row = planAdjustmentRow(
    plan,
    ctx,
    {
      id,
      customer_id: customer.id,
      amount: input.amount,
      currency: customer.currency,
      reason: input.reason,
      invoice_id: debit ? docId : null,
      credit_note_id: debit ? null : docId,
      adjustment_date: date,
      journal_entry_id: entry.id,
    },
    customer.locked_at,
  )
  const view = adjustmentView(row, staged.txn!.id)
  plan.audit(ctx, { action: 'adjustment.created', entity_type: 'adjustment', entity_id: id, after: view, reason: input.reason })
  plan.event(ctx, 'adjustment.created', view)
  return view
}

/** POST /v1/adjustments, batched (core/http/batch.ts). */
export function createAdjustments(trx: Trx, items: BatchItem<CreateAdjustmentInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planAdjustment(trx, plan, ctx, lc, customer, input),
  })
}

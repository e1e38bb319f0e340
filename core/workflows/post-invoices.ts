import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { addDays } from '../kernel/dates'
import { checkCredit } from '../ledger/credit'
import { assertCustomerUsable, CustomerState, documentRate, LedgerContext, nextNumber, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { invoiceView, planInvoiceRow, priceLines, safe } from '../invoices/model'
import type { CreateInvoiceInput } from '../invoices/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { claimExternalId } from './steps/external-id'
import { documentRef } from '../kernel/metadata'

/**
 * Workflow: post invoices. Lock the customers (id order) → plan each invoice against the held
 * state (every check, no writes) → write all accepted invoices with one statement per table →
 * views. POST /v1/invoices batches concurrent requests of a tenant through createInvoices; a sale
 * plans its invoice into its own plan.
 */

/**
 * Validates one invoice against the locked customer and builds everything it writes:
 * Dr AR total / Cr Revenue net, Cr Tax payable tax (+ Dr COGS / Cr Inventory at cost). Every check
 * (including the credit limit, last) runs before anything is recorded, so a refused invoice leaves
 * nothing behind; an accepted one is applied to the in-memory customer state, so the next invoice
 * of the same customer in a batch is checked against it.
 */
export async function planInvoice(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  input: CreateInvoiceInput,
  opts: { saleId?: string; tendered?: number } = {},
) {
  assertCustomerUsable(customer)
  if (customer.status === 'inactive') throw new AppError('customer_inactive', `Customer '${customer.id}' is inactive.`, { param: 'customer' })
  const currency = (input.currency ?? customer.currency).toLowerCase()
  if (currency !== customer.currency) {
    throw new AppError('currency_mismatch', `The customer is billed in ${customer.currency}, not ${currency}.`, { param: 'currency' })
  }
  const rate = documentRate(currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const issueDate = input.issue_date ?? lc.today
  if (input.due_date && input.payment_terms_days !== undefined) {
    throw new AppError('validation_failed', 'Give due_date or payment_terms_days, not both.', { param: 'due_date' })
  }
  const dueDate = input.due_date ?? addDays(issueDate, input.payment_terms_days ?? customer.payment_terms_days)
  if (dueDate < issueDate) throw new AppError('invalid_date', 'due_date is before issue_date.', { param: 'due_date' })

  const lines = priceLines(input.lines)
  const subtotal = safe(lines.reduce((s, l) => s + l.net_amount, 0), 'lines')
  const tax = safe(lines.reduce((s, l) => s + l.tax_amount, 0), 'lines')
  const cost = safe(lines.reduce((s, l) => s + l.cost, 0), 'lines')
  const total = safe(subtotal + tax, 'lines')
  if (total <= 0) throw new AppError('invalid_amount', 'An invoice total must be positive.', { param: 'lines' })

  const id = newId('inv')
  const entry = await plan.post(trx, ctx, {
    event: 'invoice',
    source_type: 'invoice',
    source_id: id,
    entry_date: issueDate,
    currency,
    base_currency: lc.base_currency,
    exchange_rate: rate,
    memo: input.memo,
    lines: [
      { role: 'ar', side: 'debit', amount: total, customer_id: customer.id },
      { role: 'revenue', side: 'credit', amount: subtotal },
      { role: 'tax', side: 'credit', amount: tax },
      { role: 'cogs', side: 'debit', amount: cost },
      { role: 'inventory', side: 'credit', amount: cost },
    ],
  })
  checkCredit(plan, ctx, customer, total, input.credit_override, { type: 'invoice', id }, lc.today, { paidInFull: opts.tendered !== undefined && opts.tendered >= total })

  const ref = documentRef(input)
  await claimExternalId(trx, plan, ctx, 'invoices', ref.external_id, customer.id)
  const number = await nextNumber(trx, ctx, 'invoice', 'INV')
  plan.balance(
    stageBalanceChange(ctx, customer, {
      pending: total,
      advance: 0,
      txn: { type: 'invoice', reference: number, source_type: 'invoice', source_id: id, posting_date: issueDate, journal_entry_id: entry.id },
    }),
  )
  const { row, lines: held } = planInvoiceRow(
    plan,
    ctx,
    {
      id,
      number,
      kind: 'invoice',
      customer_id: customer.id,
      currency,
      exchange_rate: rate,
      issue_date: issueDate,
      due_date: dueDate,
      subtotal,
      tax,
      total,
      total_base: currency === lc.base_currency ? total : mulRound(total, rate, 'exchange_rate'),
      memo: input.memo ?? null,
      sale_id: opts.saleId ?? null,
      journal_entry_id: entry.id,
      credit_override_reason: input.credit_override?.reason ?? null,
      ...ref,
      created_by: ctx.keyId ?? ctx.role,
    },
    lines.map(({ cost: _cost, ...l }) => l),
    customer.locked_at,
  )
  const view = invoiceView(row, held.map((l) => ({ ...l })), [])
  plan.audit(ctx, { action: 'invoice.created', entity_type: 'invoice', entity_id: id, after: { number, customer: customer.id, total, currency } })
  plan.event(ctx, 'invoice.created', view)
  return view
}

/**
 * Posts a batch of invoices of one tenant in the caller's transaction (POST /v1/invoices requests
 * gathered by core/http/batch.ts). Returns a view or an AppError per input, in order.
 */
export function createInvoices(trx: Trx, items: BatchItem<CreateInvoiceInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planInvoice(trx, plan, ctx, lc, customer, input),
  })
}

import { runWrites, type Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { addDays } from '../kernel/dates'
import { auditWrites, recordAudit } from '../audit/service'
import { eventWrites } from '../outbox/outbox'
import { checkCredit } from '../ledger/credit'
import {
  assertCustomerUsable, balanceWrites, buildEntry, BuiltEntry, CustomerState, documentRate, entryWrites, LedgerContext,
  ledgerContext, lockCustomers, nextNumber, stageBalanceChange, StagedBalanceChange,
} from '../ledger/engine'
import { invoiceRow, invoiceView, invoiceWrites, priceLines, safe, type InvoiceInsert, type InvoiceLineInsert } from '../invoices/model'
import type { CreateInvoiceInput } from '../invoices/schemas'

/**
 * Workflow: post invoices. Lock the customers (id order) → plan each invoice against the locked
 * state (every check, no writes) → write all accepted invoices with one statement → views.
 * POST /v1/invoices batches concurrent requests of a tenant through createInvoices; a sale posts
 * its invoice through createInvoice under the customer lock it already holds.
 */

/** An invoice validated and posted in memory (entry, rows, balance change), ready to write. */
interface InvoicePlan {
  ctx: RequestContext
  entry: BuiltEntry
  invoice: InvoiceInsert
  lines: InvoiceLineInsert[]
  balance: StagedBalanceChange
}

/**
 * Validates one invoice against the locked customer and builds everything it writes:
 * Dr AR total / Cr Revenue net, Cr Tax payable tax (+ Dr COGS / Cr Inventory at cost). Every check
 * (including the credit limit, last) runs before anything is recorded, so a refused invoice leaves
 * nothing behind; an accepted one is applied to the in-memory customer state, so the next invoice
 * of the same customer in a batch is checked against it. `closedPeriods` (date → status) lets a
 * batch answer `period_closed` per invoice; without it the entry insert checks the period.
 */
async function planInvoice(
  trx: Trx,
  ctx: RequestContext,
  lc: LedgerContext,
  customer: CustomerState,
  input: CreateInvoiceInput,
  opts: { saleId?: string; closedPeriods?: Map<string, string> } = {},
): Promise<InvoicePlan> {
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
  const closed = opts.closedPeriods?.get(issueDate)
  if (closed) throw new AppError('period_closed', `${issueDate} falls in a ${closed} period.`, { param: 'posting_date' })

  const lines = priceLines(input.lines)
  const subtotal = safe(lines.reduce((s, l) => s + l.net_amount, 0), 'lines')
  const tax = safe(lines.reduce((s, l) => s + l.tax_amount, 0), 'lines')
  const cost = safe(lines.reduce((s, l) => s + l.cost, 0), 'lines')
  const total = safe(subtotal + tax, 'lines')
  if (total <= 0) throw new AppError('invalid_amount', 'An invoice total must be positive.', { param: 'lines' })

  const id = newId('inv')
  const entry = await buildEntry(trx, ctx, {
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
  await checkCredit(trx, ctx, customer, total, input.credit_override, { type: 'invoice', id }, lc.today)

  const number = await nextNumber(trx, ctx, 'invoice', 'INV')
  const balance = stageBalanceChange(ctx, customer, {
    pending: total,
    advance: 0,
    txn: { type: 'invoice', reference: number, source_type: 'invoice', source_id: id, posting_date: issueDate, journal_entry_id: entry.id },
  })
  return {
    ctx,
    entry,
    invoice: {
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
      created_by: ctx.keyId ?? ctx.role,
    },
    lines: lines.map(({ cost: _cost, ...l }) => l),
    balance,
  }
}

/**
 * Writes planned invoices of one tenant, all in one statement: entries and lines, invoices and
 * lines, balances and sub-ledger rows, events, and the transaction's audit rows so far. Returns
 * their views.
 */
async function writeInvoices(trx: Trx, customerOf: (id: string) => CustomerState, plans: InvoicePlan[]) {
  if (!plans.length) return []
  const ctx = plans[0].ctx
  const rows = plans.map((p) => invoiceRow(p.invoice, customerOf(p.invoice.customer_id).locked_at))
  const views = plans.map((p, i) => invoiceView(rows[i], p.lines.map((l) => ({ ...l, returned_quantity: 0 })), []))
  for (const p of plans) {
    const { id, number, customer_id, total, currency } = p.invoice
    await recordAudit(trx, p.ctx, { action: 'invoice.created', entity_type: 'invoice', entity_id: id, after: { number, customer: customer_id, total, currency } })
  }
  await runWrites(trx, [
    entryWrites(ctx, plans.map((p) => p.entry)),
    invoiceWrites(ctx, plans),
    balanceWrites(ctx, plans.map((p) => p.balance)),
    eventWrites(plans.map((p, i) => ({ ctx: p.ctx, type: 'invoice.created', object: views[i] }))).write,
    auditWrites(trx),
  ])
  return views
}

/** Posts one invoice (see planInvoice). The customer is locked first, unless the caller has locked it. */
export async function createInvoice(
  trx: Trx,
  ctx: RequestContext,
  input: CreateInvoiceInput,
  opts: { saleId?: string; customer?: CustomerState } = {},
) {
  const lc = await ledgerContext(trx, ctx)
  let customer = opts.customer
  let closedPeriods: Map<string, string> | undefined
  if (!customer) {
    const locked = await lockCustomers(trx, ctx, [input.customer], [input.issue_date ?? lc.today])
    customer = locked.customers.get(input.customer)
    if (!customer) throw notFound('customer', input.customer, 'customer')
    closedPeriods = locked.closedPeriods
  }
  const plan = await planInvoice(trx, ctx, lc, customer, input, { saleId: opts.saleId, closedPeriods })
  const [view] = await writeInvoices(trx, () => customer, [plan])
  return view
}

/**
 * Posts a batch of invoices of one tenant in the caller's transaction (POST /v1/invoices requests
 * gathered by core/http/batch.ts): their customers are locked together in id order, each invoice
 * is checked as createInvoice would and answers its own error, and the accepted ones are written
 * together. Returns a view or an AppError per input, in order.
 */
export async function createInvoices(trx: Trx, items: { ctx: RequestContext; input: CreateInvoiceInput }[]) {
  const lc = await ledgerContext(trx, items[0].ctx)
  const { customers, closedPeriods } = await lockCustomers(
    trx,
    items[0].ctx,
    items.map((i) => i.input.customer),
    items.map((i) => i.input.issue_date ?? lc.today),
  )
  const outcomes: (ReturnType<typeof invoiceView> | AppError)[] = []
  const plans: InvoicePlan[] = []
  const planned: number[] = []
  for (const [n, { ctx, input }] of items.entries()) {
    try {
      const customer = customers.get(input.customer)
      if (!customer) throw notFound('customer', input.customer, 'customer')
      plans.push(await planInvoice(trx, ctx, lc, customer, input, { closedPeriods }))
      planned.push(n)
    } catch (err) {
      if (!(err instanceof AppError)) throw err
      outcomes[n] = err
    }
  }
  const views = await writeInvoices(trx, (id) => customers.get(id)!, plans)
  planned.forEach((n, i) => (outcomes[n] = views[i]))
  return outcomes
}


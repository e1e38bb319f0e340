import { runWrites, type Trx, type Write } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound, normalizeDecimal } from '../kernel/money'
import { auditWrites, recordAudit } from '../audit/service'
import { emitEvent, eventWrites } from '../outbox/outbox'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { allocationsForInvoice } from '../allocations/service'
import { checkCredit } from '../ledger/credit'
import {
  assertCustomerUsable, balanceWrites, buildEntry, BuiltEntry, changeBalance, CustomerState, documentRate, entryWrites, LedgerContext,
  ledgerContext, lockCustomers, nextNumber, postEntry, stageBalanceChange, StagedBalanceChange,
} from '../ledger/engine'
import type { CreateInvoiceInput } from './schemas'

export interface InvoiceRow {
  id: string
  number: string
  kind: 'invoice' | 'debit_note'
  customer_id: string
  currency: string
  exchange_rate: string
  issue_date: string
  due_date: string
  subtotal: number
  tax: number
  total: number
  total_base: number
  outstanding: number
  status: 'open' | 'partially_paid' | 'paid' | 'void'
  memo: string | null
  sale_id: string | null
  journal_entry_id: string
  credit_override_reason: string | null
  voided_at: Date | null
  void_reason: string | null
  created_at: Date
}

export interface InvoiceLineRow {
  line_no: number
  description: string
  product_ref: string | null
  quantity: number
  unit_amount: number
  tax_rate: string
  unit_cost: number | null
  net_amount: number
  tax_amount: number
  returned_quantity: number
}

export function invoiceStatus(total: number, outstanding: number): InvoiceRow['status'] {
  if (outstanding === 0) return 'paid'
  return outstanding < total ? 'partially_paid' : 'open'
}

export function invoiceView(inv: InvoiceRow, lines: InvoiceLineRow[], allocations?: unknown[]) {
  return {
    id: inv.id,
    object: 'invoice' as const,
    number: inv.number,
    kind: inv.kind,
    customer: inv.customer_id,
    currency: inv.currency,
    exchange_rate: normalizeDecimal(inv.exchange_rate, 'exchange_rate'),
    issue_date: inv.issue_date,
    due_date: inv.due_date,
    subtotal: inv.subtotal,
    tax: inv.tax,
    total: inv.total,
    total_base: inv.total_base,
    outstanding: inv.outstanding,
    amount_paid: inv.total - inv.outstanding,
    status: inv.status,
    memo: inv.memo,
    sale: inv.sale_id,
    journal_entry: inv.journal_entry_id,
    credit_override_reason: inv.credit_override_reason,
    voided_at: inv.voided_at ? inv.voided_at.toISOString() : null,
    void_reason: inv.void_reason,
    created: inv.created_at.toISOString(),
    lines: lines.map((l) => ({
      line_no: l.line_no,
      description: l.description,
      product_ref: l.product_ref,
      quantity: l.quantity,
      unit_amount: l.unit_amount,
      tax_rate: normalizeDecimal(l.tax_rate, 'tax_rate'),
      unit_cost: l.unit_cost,
      net_amount: l.net_amount,
      tax_amount: l.tax_amount,
      total: l.net_amount + l.tax_amount,
      returned_quantity: l.returned_quantity,
    })),
    ...(allocations ? { allocations } : {}),
  }
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + days)
  return d.toISOString().slice(0, 10)
}

function safe(n: number, param: string): number {
  if (!Number.isSafeInteger(n)) throw new AppError('invalid_amount', 'The amount is too large.', { param })
  return n
}

/** Prices the lines: net = quantity × unit_amount, tax = round_half_up(net × rate), cost = quantity × unit_cost. */
export function priceLines(lines: CreateInvoiceInput['lines']) {
  return lines.map((l, i) => {
    const net = safe(l.quantity * l.unit_amount, `lines.${i}.unit_amount`)
    const taxRate = normalizeDecimal(l.tax_rate ?? '0', `lines.${i}.tax_rate`)
    return {
      line_no: i + 1,
      description: l.description,
      product_ref: l.product_ref ?? null,
      quantity: l.quantity,
      unit_amount: l.unit_amount,
      tax_rate: taxRate,
      unit_cost: l.unit_cost ?? null,
      net_amount: net,
      tax_amount: mulRound(net, taxRate, `lines.${i}.tax_rate`),
      cost: safe(l.quantity * (l.unit_cost ?? 0), `lines.${i}.unit_cost`),
    }
  })
}

/** An invoice validated and posted in memory (entry, rows, balance change), ready to write. */
interface InvoicePlan {
  ctx: RequestContext
  entry: BuiltEntry
  invoice: InvoiceInsert
  lines: Omit<InvoiceLineRow, 'returned_quantity'>[]
  balance: StagedBalanceChange
}

/** Columns every invoice insert sets (the rest take their defaults). */
type InvoiceInsert = Omit<InvoiceRow, 'outstanding' | 'status' | 'voided_at' | 'void_reason' | 'created_at'> & { created_by: string }

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

/** The row an invoice insert writes, as read back (created in the transaction that locked its customer). */
function invoiceRow(i: InvoiceInsert, createdAt: Date): InvoiceRow {
  const { created_by: _by, ...cols } = i
  return { ...cols, outstanding: i.total, status: 'open', voided_at: null, void_reason: null, created_at: createdAt }
}

/** The writes of invoices and their lines, for runWrites. */
function invoiceWrites(ctx: RequestContext, items: { invoice: InvoiceInsert; lines: Omit<InvoiceLineRow, 'returned_quantity'>[] }[]): Write {
  return {
    ctes: `inv_i as (
       insert into invoices (tenant_id, id, number, kind, customer_id, currency, exchange_rate, issue_date, due_date, subtotal, tax, total,
         total_base, outstanding, status, memo, sale_id, journal_entry_id, credit_override_reason, created_by)
       select :tenant, x.id, x.number, x.kind, x.customer_id, x.currency, x.exchange_rate, x.issue_date, x.due_date, x.subtotal, x.tax, x.total,
              x.total_base, x.total, 'open', x.memo, x.sale_id, x.journal_entry_id, x.credit_override_reason, x.created_by
         from json_to_recordset(:inv_rows::json) as x(id text, number text, kind text, customer_id text, currency text, exchange_rate numeric,
              issue_date date, due_date date, subtotal bigint, tax bigint, total bigint, total_base bigint, memo text, sale_id text,
              journal_entry_id text, credit_override_reason text, created_by text)
       returning id
     ), inv_l as (
       insert into invoice_lines (tenant_id, invoice_id, line_no, description, product_ref, quantity, unit_amount, tax_rate, unit_cost, net_amount, tax_amount)
       select :tenant, x.invoice_id, x.line_no, x.description, x.product_ref, x.quantity, x.unit_amount, x.tax_rate, x.unit_cost, x.net_amount, x.tax_amount
         from json_to_recordset(:inv_lines::json) as x(invoice_id text, line_no smallint, description text, product_ref text, quantity bigint,
              unit_amount bigint, tax_rate numeric, unit_cost bigint, net_amount bigint, tax_amount bigint)
         join inv_i i on i.id = x.invoice_id
     )`,
    bindings: {
      tenant: ctx.tenantId,
      inv_rows: JSON.stringify(items.map((i) => i.invoice)),
      inv_lines: JSON.stringify(items.flatMap((i) => i.lines.map((l) => ({ invoice_id: i.invoice.id, ...l })))),
    },
  }
}

export async function getInvoiceRow(trx: Trx, ctx: RequestContext, id: string, param?: string): Promise<InvoiceRow> {
  const row = await trx('invoices').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('invoice', id, param)
  return row
}

async function linesOf(trx: Trx, ctx: RequestContext, id: string): Promise<InvoiceLineRow[]> {
  return trx('invoice_lines').where({ tenant_id: ctx.tenantId, invoice_id: id }).orderBy('line_no')
}

export async function getInvoice(trx: Trx, ctx: RequestContext, id: string) {
  const row = await getInvoiceRow(trx, ctx, id)
  return invoiceView(row, await linesOf(trx, ctx, id), await allocationsForInvoice(trx, ctx, id))
}

export async function listInvoices(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string; status?: string }) {
  const query = trx('invoices').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.status) query.andWhere({ status: q.status })
  const { rows, has_more } = await paginate<InvoiceRow>(query, q)
  const lines: (InvoiceLineRow & { invoice_id: string })[] = rows.length
    ? await trx('invoice_lines').where({ tenant_id: ctx.tenantId }).whereIn('invoice_id', rows.map((r) => r.id)).orderBy(['invoice_id', 'line_no'])
    : []
  return page(rows.map((r) => invoiceView(r, lines.filter((l) => l.invoice_id === r.id))), has_more)
}

/** Locks invoices in id order (after the customer): the order every posting uses. */
export async function lockInvoices(trx: Trx, ctx: RequestContext, ids: string[], customerId: string): Promise<Map<string, InvoiceRow>> {
  const unique = [...new Set(ids)].sort()
  const rows: InvoiceRow[] = unique.length
    ? await trx('invoices').where({ tenant_id: ctx.tenantId }).whereIn('id', unique).orderBy('id').forUpdate()
    : []
  const byId = new Map(rows.map((r) => [r.id, r]))
  for (const id of unique) {
    const inv = byId.get(id)
    // Another customer's invoice answers like a missing one.
    if (!inv || inv.customer_id !== customerId) throw notFound('invoice', id, 'invoice')
  }
  return byId
}

/** Marks a locked invoice void (the reversal of its entry is posted by core/reversals). */
export async function markInvoiceVoid(trx: Trx, ctx: RequestContext, inv: InvoiceRow, reason: string): Promise<void> {
  await trx('invoices').where({ tenant_id: ctx.tenantId, id: inv.id }).update({ status: 'void', voided_at: trx.fn.now(), void_reason: reason, updated_at: trx.fn.now() })
  inv.status = 'void'
}

/** Changes a locked invoice's outstanding (never below 0 or above total) and derives its status. */
export async function changeOutstanding(trx: Trx, ctx: RequestContext, inv: InvoiceRow, delta: number): Promise<void> {
  const outstanding = inv.outstanding + delta
  if (outstanding < 0) throw new AppError('over_allocation', `The amount exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  if (outstanding > inv.total) throw new Error(`invoice ${inv.id} outstanding would exceed its total`)
  const status = inv.status === 'void' ? 'void' : invoiceStatus(inv.total, outstanding)
  await trx('invoices').where({ tenant_id: ctx.tenantId, id: inv.id }).update({ outstanding, status, updated_at: trx.fn.now() })
  const wasPaid = inv.status === 'paid'
  inv.outstanding = outstanding
  inv.status = status
  if (status === 'paid' && !wasPaid) await emitEvent(trx, ctx, 'invoice.paid', { id: inv.id, number: inv.number, customer: inv.customer_id, total: inv.total })
}

/**
 * Posts a debit note for a positive adjustment (called by core/adjustments): an invoice of kind
 * `debit_note`, numbered DN-…, one line, no tax: Dr AR / Cr Other income. The caller has locked
 * the customer. No credit-limit check: it corrects what the customer already owes.
 */
export async function createDebitNote(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  input: { amount: number; reason: string; issue_date: string; exchange_rate: string; base_currency: string },
) {
  const id = newId('inv')
  const entryId = await postEntry(trx, ctx, {
    event: 'adjustment',
    source_type: 'invoice',
    source_id: id,
    entry_date: input.issue_date,
    currency: customer.currency,
    base_currency: input.base_currency,
    exchange_rate: input.exchange_rate,
    memo: input.reason,
    lines: [
      { role: 'ar', side: 'debit', amount: input.amount, customer_id: customer.id },
      { role: 'other_income', side: 'credit', amount: input.amount },
    ],
  })
  const number = await nextNumber(trx, ctx, 'debit_note', 'DN')
  const line = { line_no: 1, description: input.reason, product_ref: null, quantity: 1, unit_amount: input.amount, tax_rate: '0', unit_cost: null, net_amount: input.amount, tax_amount: 0 }
  const invoice: InvoiceInsert = {
        id,
        number,
        kind: 'debit_note',
        customer_id: customer.id,
        currency: customer.currency,
        exchange_rate: input.exchange_rate,
        issue_date: input.issue_date,
        due_date: addDays(input.issue_date, customer.payment_terms_days),
        subtotal: input.amount,
        tax: 0,
        total: input.amount,
        total_base: mulRound(input.amount, input.exchange_rate, 'exchange_rate'),
        memo: input.reason,
        sale_id: null,
        journal_entry_id: entryId,
        credit_override_reason: null,
        created_by: ctx.keyId ?? ctx.role,
  }
  await runWrites(trx, [invoiceWrites(ctx, [{ invoice, lines: [line] }])])
  const row = invoiceRow(invoice, customer.locked_at)
  await changeBalance(trx, ctx, customer, {
    pending: input.amount,
    advance: 0,
    txn: { type: 'debit_note', reference: number, source_type: 'invoice', source_id: id, posting_date: input.issue_date, journal_entry_id: entryId, reason: input.reason },
  })
  return invoiceView(row, [{ ...line, returned_quantity: 0 }], [])
}

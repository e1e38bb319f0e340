import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { MAX_AMOUNT, mulRound, normalizeDecimal } from '../kernel/money'
import { parseQuantity, quantityFromDb, quantityOut, quantityTimes, quantityToDb } from '../kernel/quantity'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import { applyRange, paginate, page } from '../kernel/pagination'
import type { CreateInvoiceInput, InvoiceListQuery } from './schemas'
import { prefixPattern, type DocumentRef, type Metadata } from '../kernel/metadata'

/**
 * The invoice record: `invoices` and `invoice_lines`, the only SQL on those tables. Posting an
 * invoice is a workflow (core/workflows/post-invoices.ts); this module reads, locks and writes rows.
 */

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
  external_id: string | null
  metadata: Metadata
  voided_at: Date | null
  void_reason: string | null
  created_at: Date
}

export interface InvoiceLineRow {
  line_no: number
  description: string
  product_ref: string | null
  /** numeric(12,3) text (core/kernel/quantity.ts) */
  quantity: string
  unit_amount: number
  tax_rate: string
  unit_cost: number | null
  net_amount: number
  tax_amount: number
  returned_quantity: string
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
    external_id: inv.external_id,
    metadata: inv.metadata,
    voided_at: inv.voided_at ? inv.voided_at.toISOString() : null,
    void_reason: inv.void_reason,
    created: inv.created_at.toISOString(),
    lines: lines.map((l) => ({
      line_no: l.line_no,
      description: l.description,
      product_ref: l.product_ref,
      quantity: quantityOut(quantityFromDb(l.quantity)),
      unit_amount: l.unit_amount,
      tax_rate: normalizeDecimal(l.tax_rate, 'tax_rate'),
      unit_cost: l.unit_cost,
      net_amount: l.net_amount,
      tax_amount: l.tax_amount,
      total: l.net_amount + l.tax_amount,
      returned_quantity: quantityOut(quantityFromDb(l.returned_quantity)),
    })),
    ...(allocations ? { allocations } : {}),
  }
}

export function safe(n: number, param: string): number {
  if (!Number.isSafeInteger(n) || Math.abs(n) > MAX_AMOUNT) throw new AppError('invalid_amount', `The amount is too large (at most ${MAX_AMOUNT} minor units).`, { param })
  return n
}

/**
 * Prices the lines: net = round_half_up(quantity × unit_amount), tax = round_half_up(net × rate),
 * cost = round_half_up(quantity × unit_cost); quantities may be decimal (core/kernel/quantity.ts).
 */
export function priceLines(lines: CreateInvoiceInput['lines']) {
  return lines.map((l, i) => {
    const quantity = parseQuantity(l.quantity, `lines.${i}.quantity`)
    const net = safe(quantityTimes(quantity, l.unit_amount), `lines.${i}.unit_amount`)
    const taxRate = normalizeDecimal(l.tax_rate ?? '0', `lines.${i}.tax_rate`)
    return {
      line_no: i + 1,
      description: l.description,
      product_ref: l.product_ref ?? null,
      quantity: quantityToDb(quantity),
      unit_amount: l.unit_amount,
      tax_rate: taxRate,
      unit_cost: l.unit_cost ?? null,
      net_amount: net,
      tax_amount: mulRound(net, taxRate, `lines.${i}.tax_rate`),
      cost: safe(quantityTimes(quantity, l.unit_cost ?? 0), `lines.${i}.unit_cost`),
    }
  })
}

/** Columns every invoice insert sets (the rest take their defaults). */
export type InvoiceInsert = Omit<InvoiceRow, 'outstanding' | 'status' | 'voided_at' | 'void_reason' | 'created_at' | keyof DocumentRef> & { created_by: string } & Partial<DocumentRef>

/** An invoice line as inserted (nothing returned yet). */
export type InvoiceLineInsert = Omit<InvoiceLineRow, 'returned_quantity'>

export async function getInvoiceRow(trx: Trx, ctx: RequestContext, id: string, param?: string): Promise<InvoiceRow> {
  const row = await trx('invoices').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('invoice', id, param)
  return row
}

export async function invoiceLines(trx: Trx, ctx: RequestContext, id: string): Promise<InvoiceLineRow[]> {
  return trx('invoice_lines').where({ tenant_id: ctx.tenantId, invoice_id: id }).orderBy('line_no')
}

export async function listInvoices(trx: Trx, ctx: RequestContext, q: InvoiceListQuery) {
  const query = trx('invoices').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.status) query.andWhere({ status: q.status })
  if (q.number) query.andWhere({ number: q.number })
  if (q.external_id) query.andWhere({ external_id: q.external_id })
  if (q.q) {
    const pattern = prefixPattern(q.q)
    query.andWhere((w) => w.where('number', 'like', pattern).orWhere('external_id', 'like', pattern))
  }
  applyRange(query, q, 'issue_date', 'issue_date', 'date')
  applyRange(query, q, 'due_date', 'due_date', 'date')
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

/**
 * The customer's open invoices, oldest due first (due date, then issue date, then id): the order
 * auto-apply pays them in. Read under the customer lock, which every change to them holds.
 */
export async function openInvoicesOldestFirst(trx: Trx, ctx: RequestContext, customerId: string, limit: number): Promise<{ id: string; outstanding: number }[]> {
  return trx('invoices')
    .where({ tenant_id: ctx.tenantId, customer_id: customerId })
    .where('outstanding', '>', 0)
    .whereNot('status', 'void')
    .orderBy(['due_date', 'issue_date', 'id'])
    .limit(limit)
    .select('id', 'outstanding')
}

/** The columns a posting writes (the rest are server defaults). */
export const invoicesTable = defineTable<Omit<InvoiceRow, 'created_at'> & { created_by: string }>(
  'invoices',
  {
    id: 'text', number: 'text', kind: 'text', customer_id: 'text', currency: 'text', exchange_rate: 'numeric', issue_date: 'date',
    due_date: 'date', subtotal: 'bigint', tax: 'bigint', total: 'bigint', total_base: 'bigint', outstanding: 'bigint', status: 'text',
    memo: 'text', sale_id: 'text', journal_entry_id: 'text', credit_override_reason: 'text', voided_at: 'timestamptz', void_reason: 'text',
    created_by: 'text', external_id: 'text', metadata: 'jsonb',
  },
  ['id'],
)

/**
 * Plans a change of a locked invoice's outstanding (never below 0 or above total) and its status;
 * the held row shows the result at once. Announces `invoice.paid` when it becomes paid.
 */
export function planOutstanding(plan: Plan, ctx: RequestContext, inv: InvoiceRow, delta: number): void {
  const outstanding = inv.outstanding + delta
  if (outstanding < 0) throw new AppError('over_allocation', `The amount exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  if (outstanding > inv.total) throw new Error(`invoice ${inv.id} outstanding would exceed its total`)
  const status = inv.status === 'void' ? 'void' : invoiceStatus(inv.total, outstanding)
  const wasPaid = inv.status === 'paid'
  inv.outstanding = outstanding
  inv.status = status
  plan.update(invoicesTable, { id: inv.id }, { outstanding, status }, { touch: true })
  if (status === 'paid' && !wasPaid) plan.event(ctx, 'invoice.paid', { id: inv.id, number: inv.number, customer: inv.customer_id, total: inv.total })
}

export const invoiceLinesTable = defineTable<InvoiceLineRow & { invoice_id: string }>(
  'invoice_lines',
  {
    invoice_id: 'text', line_no: 'smallint', description: 'text', product_ref: 'text', quantity: 'numeric', unit_amount: 'bigint',
    tax_rate: 'numeric', unit_cost: 'bigint', net_amount: 'bigint', tax_amount: 'bigint', returned_quantity: 'numeric',
  },
  ['invoice_id', 'line_no'],
)

/**
 * Plans a change of held invoice lines' returned quantities (signed thousandths: + on a return, −
 * when its credit note is voided); the held lines show the result at once.
 */
export function planReturnedQuantities(plan: Plan, invoiceId: string, lines: InvoiceLineRow[], changes: { invoice_line_no: number; milli: number }[]): void {
  for (const c of changes) {
    const line = lines.find((l) => l.line_no === c.invoice_line_no)
    if (!line) throw new Error(`invoice ${invoiceId} has no line ${c.invoice_line_no}`)
    const returned = quantityFromDb(line.returned_quantity) + c.milli
    if (returned < 0 || returned > quantityFromDb(line.quantity)) throw new Error(`invoice ${invoiceId} line ${line.line_no}: returned quantity out of range`)
    line.returned_quantity = quantityToDb(returned)
    plan.update(invoiceLinesTable, { invoice_id: invoiceId, line_no: line.line_no }, { returned_quantity: line.returned_quantity })
  }
}

/**
 * Plans an invoice's insert with its lines (open, nothing paid or returned) and holds both, so a
 * later request of the plan (a sale's payment) can settle it. Returns the row as it will read back.
 */
export function planInvoiceRow(plan: Plan, ctx: RequestContext, i: InvoiceInsert, lines: InvoiceLineInsert[], createdAt: Date): { row: InvoiceRow; lines: InvoiceLineRow[] } {
  const { created_by: _by, ...cols } = i
  const row: InvoiceRow = { external_id: null, metadata: {}, ...cols, outstanding: i.total, status: 'open', voided_at: null, void_reason: null, created_at: createdAt }
  const { created_at: _c, ...insert } = row
  plan.insert(invoicesTable, { ...insert, created_by: i.created_by })
  const held = lines.map((l) => plan.hold('invoice_line', `${i.id}:${l.line_no}`, { ...l, returned_quantity: quantityToDb(0) }, i.customer_id))
  for (const l of held) plan.insert(invoiceLinesTable, { invoice_id: i.id, ...l })
  plan.hold('invoice_lines', i.id, { line_nos: lines.map((l) => l.line_no) }, i.customer_id)
  return { row: plan.hold('invoice', i.id, row, i.customer_id), lines: held }
}

/** Plans a held invoice's void (its reversal entry is planned by the reverse workflow). */
export function planInvoiceVoid(plan: Plan, inv: InvoiceRow, reason: string, at: Date): void {
  inv.status = 'void'
  inv.voided_at = at
  inv.void_reason = reason
  plan.update(invoicesTable, { id: inv.id }, { status: 'void', voided_at: at, void_reason: reason }, { touch: true })
}

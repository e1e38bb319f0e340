import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound, normalizeDecimal } from '../kernel/money'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { allocationsForSource, applyCredit, invoiceBaseShare } from '../allocations/service'
import {
  assertCustomerUsable, changeBalance, documentRate, ledgerContext, lockCustomer, nextNumber, postEntry,
} from '../ledger/engine'
import { getInvoice, InvoiceRow, lockInvoices } from '../invoices/service'
import { documentTxn, documentTxnIds } from '../reversals/transactions'
import type { CreateCreditNoteInput } from './schemas'

export interface CreditNoteRow {
  id: string
  number: string
  customer_id: string
  invoice_id: string | null
  currency: string
  exchange_rate: string
  subtotal: number
  tax: number
  amount: number
  unapplied_amount: number
  reason: string
  status: 'issued' | 'voided'
  issue_date: string
  journal_entry_id: string
  voided_at: Date | null
  void_reason: string | null
  created_at: Date
}

export interface CreditNoteLineRow {
  line_no: number
  invoice_id: string
  invoice_line_no: number
  quantity: number
  net_amount: number
  tax_amount: number
  cost_amount: number
}

export function creditNoteView(cn: CreditNoteRow, lines: CreditNoteLineRow[], txnId: string | null, allocations?: unknown[]) {
  return {
    id: cn.id,
    object: 'credit_note' as const,
    number: cn.number,
    customer: cn.customer_id,
    invoice: cn.invoice_id,
    currency: cn.currency,
    exchange_rate: normalizeDecimal(cn.exchange_rate, 'exchange_rate'),
    subtotal: cn.subtotal,
    tax: cn.tax,
    amount: cn.amount,
    unapplied_amount: cn.unapplied_amount,
    reason: cn.reason,
    status: cn.status,
    issue_date: cn.issue_date,
    journal_entry: cn.journal_entry_id,
    transaction: txnId,
    voided_at: cn.voided_at ? cn.voided_at.toISOString() : null,
    void_reason: cn.void_reason,
    created: cn.created_at.toISOString(),
    lines: lines.map((l) => ({
      line_no: l.line_no,
      invoice_line: l.invoice_line_no,
      quantity: l.quantity,
      net_amount: l.net_amount,
      tax_amount: l.tax_amount,
      cost_amount: l.cost_amount,
    })),
    ...(allocations ? { allocations } : {}),
  }
}

type ReturnLine = Omit<CreditNoteLineRow, 'line_no' | 'invoice_id'>

/**
 * Prices a return of invoice lines: net = quantity × unit_amount, tax = round_half_up(net × rate),
 * capped by the line's tax not yet returned; returning everything left of a line takes exactly its
 * remaining tax, so repeated partial returns never leave a rounding residue on the invoice.
 */
async function priceReturn(trx: Trx, ctx: RequestContext, inv: InvoiceRow, lines: NonNullable<CreateCreditNoteInput['lines']>): Promise<ReturnLine[]> {
  const invoiceLines = (await getInvoice(trx, ctx, inv.id)).lines
  const prior: { invoice_line_no: number; tax: number }[] = await trx('credit_note_lines as l')
    .join('credit_notes as c', function () {
      this.on('c.tenant_id', 'l.tenant_id').andOn('c.id', 'l.credit_note_id')
    })
    .where({ 'l.tenant_id': ctx.tenantId, 'l.invoice_id': inv.id, 'c.status': 'issued' })
    .groupBy('l.invoice_line_no')
    .select('l.invoice_line_no', trx.raw('sum(l.tax_amount)::bigint as tax'))
  const seen = new Set<number>()
  return lines.map((req, i) => {
    const line = invoiceLines.find((l) => l.line_no === req.invoice_line)
    if (!line) throw new AppError('validation_failed', `Invoice ${inv.id} has no line ${req.invoice_line}.`, { param: `lines.${i}.invoice_line` })
    if (seen.has(req.invoice_line)) throw new AppError('validation_failed', `Line ${req.invoice_line} is given twice.`, { param: `lines.${i}.invoice_line` })
    seen.add(req.invoice_line)
    const available = line.quantity - line.returned_quantity
    if (req.quantity > available) {
      throw new AppError('return_quantity_exceeded', `Line ${line.line_no}: ${req.quantity} returned, only ${available} left to return.`, {
        param: `lines.${i}.quantity`,
        details: { invoice_line: line.line_no, sold: line.quantity, returned: line.returned_quantity, requested: req.quantity },
      })
    }
    const taxLeft = line.tax_amount - Number(prior.find((p) => p.invoice_line_no === line.line_no)?.tax ?? 0)
    const net = req.quantity * line.unit_amount
    const tax = req.quantity === available ? taxLeft : Math.min(mulRound(net, line.tax_rate, 'tax_rate'), taxLeft)
    return { invoice_line_no: line.line_no, quantity: req.quantity, net_amount: net, tax_amount: tax, cost_amount: req.quantity * (line.unit_cost ?? 0) }
  })
}

/**
 * Moves `invoice_lines.returned_quantity` (signed: + on a return, − when its credit note is
 * voided). Owned by credit notes: the only writer of that column. The invoice must be locked.
 */
export async function changeReturnedQuantities(trx: Trx, ctx: RequestContext, invoiceId: string, lines: { invoice_line_no: number; quantity: number }[]): Promise<void> {
  for (const l of lines) {
    await trx('invoice_lines')
      .where({ tenant_id: ctx.tenantId, invoice_id: invoiceId, line_no: l.invoice_line_no })
      .update({ returned_quantity: trx.raw('returned_quantity + ?', [l.quantity]) })
  }
}

/** Inserts a credit note (numbered CN-…) with all of it unapplied; also used by credit adjustments. */
export async function insertCreditNote(
  trx: Trx,
  ctx: RequestContext,
  cn: Pick<CreditNoteRow, 'id' | 'customer_id' | 'invoice_id' | 'currency' | 'exchange_rate' | 'subtotal' | 'tax' | 'amount' | 'reason' | 'issue_date' | 'journal_entry_id'>,
): Promise<CreditNoteRow> {
  const number = await nextNumber(trx, ctx, 'credit_note', 'CN')
  const [row] = await trx('credit_notes')
    .insert({ tenant_id: ctx.tenantId, ...cn, number, unapplied_amount: cn.amount, status: 'issued', created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  return row
}

/**
 * POST /v1/credit-notes: a return of invoice lines or a credit by amount. The part up to the
 * invoice's outstanding settles it (an allocation of the credit note); the rest is unapplied
 * credit (customer advances).
 */
export async function createCreditNote(trx: Trx, ctx: RequestContext, input: CreateCreditNoteInput) {
  if ((input.lines === undefined) === (input.amount === undefined)) {
    throw new AppError('validation_failed', 'Give exactly one of lines or amount.', { param: input.lines ? 'amount' : 'lines' })
  }
  if (input.lines && !input.invoice) throw new AppError('validation_failed', 'A return of lines needs the invoice.', { param: 'invoice' })
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, input.customer)
  assertCustomerUsable(customer)
  const inv = input.invoice ? (await lockInvoices(trx, ctx, [input.invoice], customer.id)).get(input.invoice)! : null
  if (inv?.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param: 'invoice' })
  if (inv && input.exchange_rate !== undefined) {
    throw new AppError('validation_failed', 'A credit note on an invoice takes the invoice exchange rate.', { param: 'exchange_rate' })
  }

  const returned = inv && input.lines ? await priceReturn(trx, ctx, inv, input.lines) : []
  const subtotal = input.amount ?? returned.reduce((s, l) => s + l.net_amount, 0)
  const tax = returned.reduce((s, l) => s + l.tax_amount, 0)
  const cost = returned.reduce((s, l) => s + l.cost_amount, 0)
  const amount = subtotal + tax
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new AppError('invalid_amount', 'A credit note amount must be positive.', { param: input.lines ? 'lines' : 'amount' })
  const applied = inv ? Math.min(amount, inv.outstanding) : 0
  const currency = inv?.currency ?? customer.currency
  const rate = inv?.exchange_rate ?? documentRate(currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const issueDate = input.issue_date ?? lc.today

  const id = newId('cn')
  const arBase = inv && applied > 0 ? await invoiceBaseShare(trx, ctx, inv, applied) : undefined
  const entryId = await postEntry(trx, ctx, {
    event: 'credit_note',
    source_type: 'credit_note',
    source_id: id,
    entry_date: issueDate,
    currency,
    base_currency: lc.base_currency,
    exchange_rate: rate,
    memo: input.reason,
    lines: [
      { role: 'sales_returns', side: 'debit', amount: subtotal },
      { role: 'tax', side: 'debit', amount: tax },
      { role: 'ar', side: 'credit', amount: applied, customer_id: customer.id, base: arBase },
      { role: 'advances', side: 'credit', amount: amount - applied, customer_id: customer.id },
      { role: 'inventory', side: 'debit', amount: cost },
      { role: 'cogs', side: 'credit', amount: cost },
    ],
  })
  const cn = await insertCreditNote(trx, ctx, {
    id, customer_id: customer.id, invoice_id: inv?.id ?? null, currency, exchange_rate: rate, subtotal, tax, amount, reason: input.reason, issue_date: issueDate, journal_entry_id: entryId,
  })
  if (inv && returned.length) {
    await trx('credit_note_lines').insert(returned.map((l, i) => ({ tenant_id: ctx.tenantId, credit_note_id: id, line_no: i + 1, invoice_id: inv.id, ...l })))
    await changeReturnedQuantities(trx, ctx, inv.id, returned)
  }
  const txnId = await changeBalance(trx, ctx, customer, {
    pending: -applied,
    advance: amount - applied,
    txn: { type: 'credit_note', reference: cn.number, source_type: 'credit_note', source_id: id, posting_date: issueDate, journal_entry_id: entryId, reason: input.reason },
  })
  // The entry above already credited AR: the allocation only records which invoice it settled.
  if (inv && applied > 0) {
    await applyCredit(trx, ctx, customer, {
      source_type: 'credit_note', source_id: id, invoice_id: inv.id, amount: applied, effective_date: issueDate, post: false, journal_entry_id: entryId, base_amount: arBase,
    })
  }
  const view = await getCreditNote(trx, ctx, id, txnId)
  await recordAudit(trx, ctx, { action: 'credit_note.created', entity_type: 'credit_note', entity_id: id, after: { number: cn.number, customer: customer.id, invoice: inv?.id ?? null, amount, applied }, reason: input.reason })
  await emitEvent(trx, ctx, 'credit_note.created', view)
  return view
}

/** Locks a credit note (after its customer); another customer's answers like a missing one. */
export async function lockCreditNote(trx: Trx, ctx: RequestContext, id: string, customerId: string): Promise<CreditNoteRow> {
  const row = await trx('credit_notes').where({ tenant_id: ctx.tenantId, id }).forUpdate().first()
  if (!row || row.customer_id !== customerId) throw notFound('credit note', id)
  return row
}

/**
 * Takes `amount` off a locked credit note's unapplied credit (a reversal); voids it when
 * `voidReason` is given. Only a void gives returned quantities back to the invoice lines: a partial
 * reversal is a correction of the amount, not of which goods came back.
 */
export async function reduceCreditNote(trx: Trx, ctx: RequestContext, cn: CreditNoteRow, amount: number, voidReason?: string): Promise<void> {
  const unapplied = cn.unapplied_amount - amount
  if (unapplied < 0) throw new Error(`credit note ${cn.id} unapplied amount would go negative`)
  const change = voidReason === undefined ? { unapplied_amount: unapplied } : { unapplied_amount: unapplied, status: 'voided', voided_at: trx.fn.now(), void_reason: voidReason }
  await trx('credit_notes').where({ tenant_id: ctx.tenantId, id: cn.id }).update(change)
  cn.unapplied_amount = unapplied
  if (voidReason !== undefined) {
    cn.status = 'voided'
    // Voiding a return puts the quantities back on the invoice lines.
    const lines: CreditNoteLineRow[] = await trx('credit_note_lines').where({ tenant_id: ctx.tenantId, credit_note_id: cn.id })
    if (cn.invoice_id && lines.length) await changeReturnedQuantities(trx, ctx, cn.invoice_id, lines.map((l) => ({ invoice_line_no: l.invoice_line_no, quantity: -l.quantity })))
  }
}

export async function getCreditNote(trx: Trx, ctx: RequestContext, id: string, txnId?: string | null) {
  const row: CreditNoteRow | undefined = await trx('credit_notes').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('credit note', id)
  const lines: CreditNoteLineRow[] = await trx('credit_note_lines').where({ tenant_id: ctx.tenantId, credit_note_id: id }).orderBy('line_no')
  const txn = txnId === undefined ? ((await documentTxn(trx, ctx, id))?.id ?? null) : txnId
  return creditNoteView(row, lines, txn, await allocationsForSource(trx, ctx, id))
}

export async function listCreditNotes(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string; invoice?: string }) {
  const query = trx('credit_notes').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.invoice) query.andWhere({ invoice_id: q.invoice })
  const { rows, has_more } = await paginate<CreditNoteRow>(query, q)
  const ids = rows.map((r) => r.id)
  const lines: (CreditNoteLineRow & { credit_note_id: string })[] = ids.length
    ? await trx('credit_note_lines').where({ tenant_id: ctx.tenantId }).whereIn('credit_note_id', ids).orderBy(['credit_note_id', 'line_no'])
    : []
  const txns = await documentTxnIds(trx, ctx, ids)
  return page(rows.map((r) => creditNoteView(r, lines.filter((l) => l.credit_note_id === r.id), txns.get(r.id) ?? null)), has_more)
}

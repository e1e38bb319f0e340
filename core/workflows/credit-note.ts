import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { assertCustomerUsable, changeBalance, documentRate, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import { changeReturnedQuantities, invoiceLines, lockInvoices, type InvoiceRow } from '../invoices/model'
import { insertCreditNote, insertCreditNoteLines, returnedTaxByLine, type CreditNoteLineRow } from '../credit-notes/model'
import type { CreateCreditNoteInput } from '../credit-notes/schemas'
import { getCreditNote } from '../views/documents'
import { invoiceBaseShare } from '../views/settlement'
import { applyCredit } from './apply-credit'

/**
 * Workflow: issue a credit note (a return of invoice lines or a credit by amount). Lock the
 * customer, then the invoice; price the return; post one entry; record the part that settles the
 * invoice as an allocation and the rest as unapplied credit.
 */

type ReturnLine = Omit<CreditNoteLineRow, 'line_no' | 'invoice_id'>

/**
 * Prices a return of invoice lines: net = quantity × unit_amount, tax = round_half_up(net × rate),
 * capped by the line's tax not yet returned; returning everything left of a line takes exactly its
 * remaining tax, so repeated partial returns never leave a rounding residue on the invoice.
 */
async function priceReturn(trx: Trx, ctx: RequestContext, inv: InvoiceRow, requested: NonNullable<CreateCreditNoteInput['lines']>): Promise<ReturnLine[]> {
  const lines = await invoiceLines(trx, ctx, inv.id)
  const returnedTax = await returnedTaxByLine(trx, ctx, inv.id)
  const seen = new Set<number>()
  return requested.map((req, i) => {
    const line = lines.find((l) => l.line_no === req.invoice_line)
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
    const taxLeft = line.tax_amount - (returnedTax.get(line.line_no) ?? 0)
    const net = req.quantity * line.unit_amount
    const tax = req.quantity === available ? taxLeft : Math.min(mulRound(net, line.tax_rate, 'tax_rate'), taxLeft)
    return { invoice_line_no: line.line_no, quantity: req.quantity, net_amount: net, tax_amount: tax, cost_amount: req.quantity * (line.unit_cost ?? 0) }
  })
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
    await insertCreditNoteLines(trx, ctx, id, inv.id, returned)
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


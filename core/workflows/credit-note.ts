import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { parseQuantity, quantityFromDb, quantityOut, quantityTimes, quantityToDb } from '../kernel/quantity'
import { assertCustomerUsable, CustomerState, documentRate, LedgerContext, nextNumber, stageBalanceChange } from '../ledger/engine'
import type { Plan } from '../ledger/plan'
import { planReturnedQuantities, type InvoiceRow } from '../invoices/model'
import { creditNoteView, planCreditNoteRow, returnedByLine, type CreditNoteLineRow, type ReturnedAmounts } from '../credit-notes/model'
import type { CreateCreditNoteInput } from '../credit-notes/schemas'
import { postInBatch, type BatchItem } from './steps/batch'
import { holdInvoiceLines, holdInvoices } from './steps/locks'
import { claimExternalId } from './steps/external-id'
import { documentRef } from '../kernel/metadata'
import { planAllocations, planBaseShares } from './steps/settle'

/**
 * Workflow: issue a credit note, a return of invoice lines or a credit by amount. Lock the customer,
 * then the invoice; plan: price the return, the entry (Dr sales returns and tax; Cr AR up to the
 * invoice's outstanding, Cr advances for the rest; Dr inventory / Cr COGS for goods back), the
 * credit note, the returned quantities and the allocation of the part that settles the invoice;
 * one write. POST /v1/credit-notes requests of a tenant are planned together.
 */

type ReturnLine = Omit<CreditNoteLineRow, 'line_no' | 'invoice_id'>

/**
 * Prices a return of invoice lines from what the line's issued credit notes already returned (not
 * from the quantity returned, which a voided credit note in the middle makes disagree with them by
 * a rounding unit): net = round_half_up((returned + quantity) × unit_amount) − net already
 * returned, kept between 0 and the line's net not yet returned (cost likewise); tax =
 * round_half_up(net × rate), capped by the line's tax not yet returned. Returning everything left
 * of a line takes exactly its remaining net, tax and cost, so the returns of a line always add up
 * to it, however the quantities were split and whichever credit notes were voided. Quantities and
 * amounts already returned count what earlier requests of the batch return.
 */
async function priceReturn(trx: Trx, plan: Plan, ctx: RequestContext, inv: InvoiceRow, requested: NonNullable<CreateCreditNoteInput['lines']>): Promise<ReturnLine[]> {
  const lines = await holdInvoiceLines(trx, plan, ctx, inv.id, inv.customer_id)
  const issued = await returnedByLine(trx, ctx, inv.id)
  const seen = new Set<number>()
  return requested.map((req, i) => {
    const line = lines.find((l) => l.line_no === req.invoice_line)
    if (!line) throw new AppError('validation_failed', `Invoice ${inv.id} has no line ${req.invoice_line}.`, { param: `lines.${i}.invoice_line` })
    if (seen.has(req.invoice_line)) throw new AppError('validation_failed', `Line ${req.invoice_line} is given twice.`, { param: `lines.${i}.invoice_line` })
    seen.add(req.invoice_line)
    const quantity = parseQuantity(req.quantity, `lines.${i}.quantity`)
    const sold = quantityFromDb(line.quantity)
    const returned = quantityFromDb(line.returned_quantity)
    const available = sold - returned
    if (quantity > available) {
      throw new AppError('return_quantity_exceeded', `Line ${line.line_no}: ${quantityOut(quantity)} returned, only ${quantityOut(available)} left to return.`, {
        param: `lines.${i}.quantity`,
        details: { invoice_line: line.line_no, sold: quantityOut(sold), returned: quantityOut(returned), requested: quantityOut(quantity) },
      })
    }
    const done = returnedSoFar(plan, inv.id, line.line_no, issued)
    const all = quantity === available
    // This return's part of a line amount `whole` (quantity × `unit` when sold), `before` of it returned.
    const part = (unit: number, whole: number, before: number) => (all ? whole - before : Math.min(Math.max(quantityTimes(returned + quantity, unit) - before, 0), whole - before))
    const net = part(line.unit_amount, line.net_amount, done.net)
    const taxLeft = line.tax_amount - done.tax
    const tax = all ? taxLeft : Math.min(mulRound(net, line.tax_rate, 'tax_rate'), taxLeft)
    const unitCost = line.unit_cost ?? 0
    return { invoice_line_no: line.line_no, quantity: quantityToDb(quantity), net_amount: net, tax_amount: tax, cost_amount: part(unitCost, quantityTimes(sold, unitCost), done.cost) }
  })
}

/** What a line's issued credit notes and the batch's earlier requests returned (held in the plan). */
function returnedSoFar(plan: Plan, invoiceId: string, lineNo: number, issued: Map<number, ReturnedAmounts>): ReturnedAmounts {
  const planned = plan.held<ReturnedAmounts>('returned', `${invoiceId}:${lineNo}`)
  const before = issued.get(lineNo) ?? { net: 0, tax: 0, cost: 0 }
  return planned ? { net: before.net + planned.net, tax: before.tax + planned.tax, cost: before.cost + planned.cost } : before
}

export async function planCreditNote(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, input: CreateCreditNoteInput) {
  if ((input.lines === undefined) === (input.amount === undefined)) {
    throw new AppError('validation_failed', 'Give exactly one of lines or amount.', { param: input.lines ? 'amount' : 'lines' })
  }
  if (input.lines && !input.invoice) throw new AppError('validation_failed', 'A return of lines needs the invoice.', { param: 'invoice' })
  assertCustomerUsable(customer)
  const inv = input.invoice ? (await holdInvoices(trx, plan, ctx, [input.invoice], customer.id)).get(input.invoice)! : null
  if (inv?.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param: 'invoice' })
  if (inv && input.exchange_rate !== undefined) {
    throw new AppError('validation_failed', 'A credit note on an invoice takes the invoice exchange rate.', { param: 'exchange_rate' })
  }

  const returned = inv && input.lines ? await priceReturn(trx, plan, ctx, inv, input.lines) : []
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
  const [arBase] = inv && applied > 0 ? await planBaseShares(trx, plan, ctx, [{ inv, amount: applied }]) : [undefined]
  const entry = await plan.post(trx, ctx, {
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
  const ref = documentRef(input)
  await claimExternalId(trx, plan, ctx, 'credit_notes', ref.external_id, customer.id)
  const number = await nextNumber(trx, ctx, 'credit_note', 'CN')
  const lines: CreditNoteLineRow[] = inv ? returned.map((l, i) => ({ line_no: i + 1, invoice_id: inv.id, ...l })) : []
  const staged = stageBalanceChange(ctx, customer, {
    pending: -applied,
    advance: amount - applied,
    txn: { type: 'credit_note', reference: number, source_type: 'credit_note', source_id: id, posting_date: issueDate, journal_entry_id: entry.id, reason: input.reason },
  })
  const row = planCreditNoteRow(
    plan,
    ctx,
    {
      id, number, customer_id: customer.id, invoice_id: inv?.id ?? null, currency, exchange_rate: rate, subtotal, tax, amount,
      unapplied_amount: amount - applied, reason: input.reason, issue_date: issueDate, journal_entry_id: entry.id,
      ...ref,
    },
    lines,
    customer.locked_at,
  )
  if (inv && returned.length) {
    planReturnedQuantities(plan, inv.id, await holdInvoiceLines(trx, plan, ctx, inv.id, inv.customer_id), returned.map((l) => ({ invoice_line_no: l.invoice_line_no, milli: quantityFromDb(l.quantity) })))
    for (const l of returned) {
      const planned = plan.hold<ReturnedAmounts>('returned', `${inv.id}:${l.invoice_line_no}`, { net: 0, tax: 0, cost: 0 }, customer.id)
      planned.net += l.net_amount
      planned.tax += l.tax_amount
      planned.cost += l.cost_amount
    }
  }
  plan.balance(staged)
  // The entry above credited AR: the allocation records which invoice it settled.
  const allocations =
    inv && applied > 0
      ? planAllocations(plan, ctx, customer, { type: 'credit_note', id, journal_entry_id: entry.id, date: issueDate }, [{ inv, amount: applied, base: arBase! }])
      : []
  const view = creditNoteView(row, lines, staged.txn!.id, allocations)
  plan.audit(ctx, { action: 'credit_note.created', entity_type: 'credit_note', entity_id: id, after: { number, customer: customer.id, invoice: inv?.id ?? null, amount, applied }, reason: input.reason })
  plan.event(ctx, 'credit_note.created', view)
  return view
}

/** POST /v1/credit-notes, batched (core/http/batch.ts). */
export function createCreditNotes(trx: Trx, items: BatchItem<CreateCreditNoteInput>[]) {
  return postInBatch(trx, items, {
    customerOf: (_ctx, input) => input.customer,
    plan: (plan, ctx, lc, customer, input) => planCreditNote(trx, plan, ctx, lc, customer, input),
  })
}

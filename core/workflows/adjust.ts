import { runWrites, type Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { addDays } from '../kernel/dates'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { assertCustomerUsable, changeBalance, CustomerState, documentRate, ledgerContext, lockCustomer, nextNumber, postEntry } from '../ledger/engine'
import { documentTxn } from '../ledger/reads'
import { invoiceRow, invoiceView, invoiceWrites, type InvoiceInsert } from '../invoices/model'
import { insertCreditNote } from '../credit-notes/model'
import { adjustmentView, insertAdjustment } from '../adjustments/model'
import type { CreateAdjustmentInput } from '../adjustments/schemas'

/**
 * Workflow: adjust a customer's balance. Positive: a debit note (an invoice of kind `debit_note`).
 * Negative: a credit adjustment, recorded as a credit note without an invoice.
 */

/**
 * POST /v1/adjustments. Positive: a debit note (an invoice of kind `debit_note`, Dr AR / Cr Other
 * income) that payments settle like any invoice. Negative: a credit adjustment, Dr Other income /
 * Cr Customer advances, recorded as a credit note without an invoice so the credit can later be
 * allocated or refunded like any other unapplied credit. The sub-ledger row's source is that
 * invoice or credit note, so reversing it follows the invoice or credit-note rules.
 */
export async function createAdjustment(trx: Trx, ctx: RequestContext, input: CreateAdjustmentInput) {
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, input.customer)
  assertCustomerUsable(customer)
  const rate = documentRate(customer.currency, lc.base_currency, input.exchange_rate === undefined ? undefined : String(input.exchange_rate))
  const date = input.posting_date ?? lc.today
  const id = newId('adj')
  let invoiceId: string | null = null
  let creditNoteId: string | null = null
  let entryId: string
  let txnId: string | null
  if (input.amount > 0) {
    const dn = await createDebitNote(trx, ctx, customer, { amount: input.amount, reason: input.reason, issue_date: date, exchange_rate: rate, base_currency: lc.base_currency })
    invoiceId = dn.id
    entryId = dn.journal_entry
    txnId = (await documentTxn(trx, ctx, dn.id))?.id ?? null
  } else {
    const credit = -input.amount
    creditNoteId = newId('cn')
    entryId = await postEntry(trx, ctx, {
      event: 'adjustment',
      source_type: 'credit_note',
      source_id: creditNoteId,
      entry_date: date,
      currency: customer.currency,
      base_currency: lc.base_currency,
      exchange_rate: rate,
      memo: input.reason,
      lines: [
        { role: 'other_income', side: 'debit', amount: credit },
        { role: 'advances', side: 'credit', amount: credit, customer_id: customer.id },
      ],
    })
    const cn = await insertCreditNote(trx, ctx, {
      id: creditNoteId, customer_id: customer.id, invoice_id: null, currency: customer.currency, exchange_rate: rate,
      subtotal: credit, tax: 0, amount: credit, reason: input.reason, issue_date: date, journal_entry_id: entryId,
    })
    txnId = await changeBalance(trx, ctx, customer, {
      pending: 0,
      advance: credit,
      txn: { type: 'adjustment', reference: cn.number, source_type: 'credit_note', source_id: creditNoteId, posting_date: date, journal_entry_id: entryId, reason: input.reason },
    })
  }
  const row = await insertAdjustment(trx, ctx, {
    id,
    customer_id: customer.id,
    amount: input.amount,
    currency: customer.currency,
    reason: input.reason,
    invoice_id: invoiceId,
    credit_note_id: creditNoteId,
    adjustment_date: date,
    journal_entry_id: entryId,
  })
  const view = adjustmentView(row, txnId)
  await recordAudit(trx, ctx, { action: 'adjustment.created', entity_type: 'adjustment', entity_id: id, after: view, reason: input.reason })
  await emitEvent(trx, ctx, 'adjustment.created', view)
  return view
}

/**
 * Posts a debit note for a positive adjustment: an invoice of kind
 * `debit_note`, numbered DN-…, one line, no tax: Dr AR / Cr Other income. The caller has locked
 * the customer. No credit-limit check: it corrects what the customer already owes.
 */
async function createDebitNote(
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


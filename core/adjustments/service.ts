import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { paginate, page, ListQuery } from '../kernel/pagination'
import { assertCustomerUsable, changeBalance, documentRate, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import { createDebitNote } from '../invoices/service'
import { insertCreditNote } from '../credit-notes/service'
import { documentTxn, documentTxnIds } from '../reversals/transactions'
import type { CreateAdjustmentInput } from './schemas'

export interface AdjustmentRow {
  id: string
  customer_id: string
  amount: number
  currency: string
  reason: string
  invoice_id: string | null
  credit_note_id: string | null
  adjustment_date: string
  journal_entry_id: string
  created_at: Date
}

export function adjustmentView(a: AdjustmentRow, txnId: string | null) {
  return {
    id: a.id,
    object: 'adjustment' as const,
    customer: a.customer_id,
    amount: a.amount,
    currency: a.currency,
    reason: a.reason,
    posting_date: a.adjustment_date,
    debit_note: a.invoice_id,
    credit_note: a.credit_note_id,
    journal_entry: a.journal_entry_id,
    transaction: txnId,
    created: a.created_at.toISOString(),
  }
}

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
  const [row] = await trx('adjustments')
    .insert({
      tenant_id: ctx.tenantId,
      id,
      customer_id: customer.id,
      amount: input.amount,
      currency: customer.currency,
      reason: input.reason,
      invoice_id: invoiceId,
      credit_note_id: creditNoteId,
      adjustment_date: date,
      journal_entry_id: entryId,
      created_by: ctx.keyId ?? ctx.role,
    })
    .returning('*')
  const view = adjustmentView(row, txnId)
  await recordAudit(trx, ctx, { action: 'adjustment.created', entity_type: 'adjustment', entity_id: id, after: view, reason: input.reason })
  await emitEvent(trx, ctx, 'adjustment.created', view)
  return view
}

export async function getAdjustment(trx: Trx, ctx: RequestContext, id: string) {
  const row: AdjustmentRow | undefined = await trx('adjustments').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('adjustment', id)
  return adjustmentView(row, (await documentTxn(trx, ctx, (row.invoice_id ?? row.credit_note_id)!))?.id ?? null)
}

export async function listAdjustments(trx: Trx, ctx: RequestContext, q: ListQuery & { customer?: string }) {
  const query = trx('adjustments').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  const { rows, has_more } = await paginate<AdjustmentRow>(query, q)
  const txns = await documentTxnIds(trx, ctx, rows.map((r) => (r.invoice_id ?? r.credit_note_id)!))
  return page(rows.map((r) => adjustmentView(r, txns.get((r.invoice_id ?? r.credit_note_id)!) ?? null)), has_more)
}

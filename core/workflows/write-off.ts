import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { changeBalance, CustomerState, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'
import { changeOutstanding, getInvoiceRow, lockInvoices } from '../invoices/model'
import { insertWriteOff, writeOffView } from '../write-offs/model'
import type { CreateWriteOffInput } from '../write-offs/schemas'
import { invoiceBaseShare } from '../views/settlement'

/** Workflow: write off part of an invoice (POST /v1/write-offs, and a short payment's write_off). */

/**
 * Writes off part of an invoice of the locked customer: Dr bad_debt / Cr ar at the invoice's AR
 * base share, outstanding −= amount, a `write_off` sub-ledger row. The one way a write-off posts:
 * POST /v1/write-offs and a short payment's `write_off` both come here.
 */
export async function postWriteOff(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  input: { invoice_id: string; amount: number; reason: string; write_off_date: string; base_currency: string; payment_id?: string | null },
) {
  const inv = (await lockInvoices(trx, ctx, [input.invoice_id], customer.id)).get(input.invoice_id)!
  if (inv.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param: 'invoice' })
  if (input.amount > inv.outstanding) {
    throw new AppError('write_off_exceeds_outstanding', `The write-off ${input.amount} exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  }
  const id = newId('wo')
  const base = await invoiceBaseShare(trx, ctx, inv, input.amount)
  const entryId = await postEntry(trx, ctx, {
    event: 'write_off',
    source_type: 'write_off',
    source_id: id,
    entry_date: input.write_off_date,
    currency: inv.currency,
    base_currency: input.base_currency,
    exchange_rate: inv.exchange_rate,
    memo: input.reason,
    lines: [
      { role: 'bad_debt', side: 'debit', amount: input.amount },
      { role: 'ar', side: 'credit', amount: input.amount, customer_id: customer.id, base },
    ],
  })
  const row = await insertWriteOff(trx, ctx, {
    id,
    customer_id: customer.id,
    invoice_id: inv.id,
    payment_id: input.payment_id ?? null,
    amount: input.amount,
    base_amount: base,
    reason: input.reason,
    write_off_date: input.write_off_date,
    journal_entry_id: entryId,
  })
  await changeOutstanding(trx, ctx, inv, -input.amount)
  const txnId = await changeBalance(trx, ctx, customer, {
    pending: -input.amount,
    advance: 0,
    txn: { type: 'write_off', reference: inv.number, source_type: 'write_off', source_id: id, posting_date: input.write_off_date, journal_entry_id: entryId, reason: input.reason },
  })
  const view = writeOffView(row, txnId)
  await recordAudit(trx, ctx, { action: 'write_off.created', entity_type: 'write_off', entity_id: id, after: { invoice: inv.id, amount: input.amount, payment: input.payment_id ?? null }, reason: input.reason })
  await emitEvent(trx, ctx, 'write_off.created', view)
  return view
}

/** POST /v1/write-offs: the invoice's customer is read first so the lock order stays customer → invoice. */
export async function createWriteOff(trx: Trx, ctx: RequestContext, input: CreateWriteOffInput) {
  const lc = await ledgerContext(trx, ctx)
  const { customer_id } = await getInvoiceRow(trx, ctx, input.invoice, 'invoice')
  const customer = await lockCustomer(trx, ctx, customer_id)
  return postWriteOff(trx, ctx, customer, {
    invoice_id: input.invoice,
    amount: input.amount,
    reason: input.reason,
    write_off_date: input.posting_date ?? lc.today,
    base_currency: lc.base_currency,
  })
}


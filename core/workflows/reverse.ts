import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import type { LineRole } from '../kernel/plugins/contract'
import { ledgerContext, stageBalanceChange, type BuiltEntry, type CustomerState, type LedgerContext, type ProposedLine } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { CustomerTransactionRow, entryWithReversals, getTxn, transactionView } from '../ledger/reads'
import { planInvoiceVoid, planOutstanding, planReturnedQuantities } from '../invoices/model'
import { getPaymentRow, planPaymentVoid } from '../payments/model'
import { getRefund } from '../refunds/model'
import { creditNoteLines, getCreditNoteRow, planCreditNoteVoid } from '../credit-notes/model'
import { getWriteOffRow } from '../write-offs/model'
import { getCreditNote, getInvoice, getPayment } from '../views/documents'
import { planUnapplied } from './steps/credit-sources'
import { holdCreditSource, holdCustomer, holdInvoiceLines, holdInvoices, liveAllocations } from './steps/locks'
import { planRestoreRefundSources } from './refund'
import { planUnapply } from './unapply'
import { quantityFromDb } from '../kernel/quantity'

/**
 * Reversals: one function reverses any document's sub-ledger row, whole or in part. The entry is
 * the mirror of what is still open of the original (its lines net of earlier reversals), scaled to
 * the amount, dated on the action date. A full reversal first un-applies the document's live
 * allocations and then voids it. What a document lets a reversal take is its own business (an
 * invoice's outstanding, a payment's or credit note's unapplied amount), described by a loader.
 * Reversals are planned like every posting (lock → plan → one write); they are not batched.
 */

export interface ReverseInput {
  /** Omitted: reverse everything that remains (a void). */
  amount?: number
  posting_date?: string
  reason: string
}

type Side = 'debit' | 'credit'

/** A held document as a reversal sees it. */
interface Reversible {
  voided: boolean
  /** The most a reversal can take now: outstanding, unapplied amount, or (no limit) Infinity. */
  available: number
  /** Side of the mirror entry that hits the customer's sub-ledger. */
  customer: { role: 'ar' | 'advances'; side: Side }
  /** Live allocations that a full reversal un-applies first. */
  allocations: string[]
  /** A void must take all that remains: an invoice is not voided around its write-offs. */
  voidNeedsAll?: boolean
  method?: string
  /** Announced when a reversal voids the document, with the document as it reads back then. */
  voidEvent?: { type: string; view(): Promise<unknown> }
  /** Plans the document's move by the reversed amount; `voidReason` when nothing remains. */
  apply(amount: number, voidReason: string | null): Promise<void>
}

type Loader = (trx: Trx, plan: Plan, ctx: RequestContext, customer: CustomerState, id: string) => Promise<Reversible>

const LOADERS: Record<string, Loader> = {
  // Invoices and debit notes: AR comes back down; a void reverses what is outstanding.
  async invoice(trx, plan, ctx, customer, id) {
    const inv = (await holdInvoices(trx, plan, ctx, [id], customer.id)).get(id)!
    return {
      voided: inv.status === 'void',
      available: inv.outstanding,
      customer: { role: 'ar', side: 'credit' },
      allocations: await liveAllocations(trx, plan, ctx, { invoice_id: id }),
      voidNeedsAll: true,
      voidEvent: { type: 'invoice.voided', view: () => getInvoice(trx, ctx, id) },
      async apply(amount, voidReason) {
        // Void first: the outstanding change then keeps the status and does not announce a payment.
        if (voidReason !== null) planInvoiceVoid(plan, inv, voidReason, customer.locked_at)
        planOutstanding(plan, ctx, inv, -amount)
      },
    }
  },
  // Payments: the unapplied part goes back out of advances to cash.
  async payment(trx, plan, ctx, customer, id) {
    const source = await holdCreditSource(trx, plan, ctx, customer.id, id)
    const row = await getPaymentRow(trx, ctx, id)
    return {
      voided: source.status === 'voided',
      available: source.unapplied_amount,
      customer: { role: 'advances', side: 'debit' },
      allocations: await liveAllocations(trx, plan, ctx, { source_id: id }),
      method: row.method,
      voidEvent: { type: 'payment.voided', view: () => getPayment(trx, ctx, id) },
      async apply(amount, voidReason) {
        planUnapplied(plan, source, -amount)
        if (voidReason !== null) {
          planPaymentVoid(plan, id, voidReason, customer.locked_at)
          source.status = 'voided'
          source.unapplied_amount = 0
        }
      },
    }
  },
  // Credit notes and credit adjustments: the unapplied credit is taken back; a void gives the
  // returned quantities back to the invoice lines (a partial reversal corrects the amount, not which
  // goods came back).
  async credit_note(trx, plan, ctx, customer, id) {
    const source = await holdCreditSource(trx, plan, ctx, customer.id, id)
    const cn = await getCreditNoteRow(trx, ctx, id)
    return {
      voided: source.status === 'voided',
      available: source.unapplied_amount,
      customer: { role: 'advances', side: 'debit' },
      allocations: await liveAllocations(trx, plan, ctx, { source_id: id }),
      voidEvent: { type: 'credit_note.voided', view: () => getCreditNote(trx, ctx, id) },
      async apply(amount, voidReason) {
        planUnapplied(plan, source, -amount)
        if (voidReason === null) return
        planCreditNoteVoid(plan, id, voidReason, customer.locked_at)
        source.status = 'voided'
        const returned = await creditNoteLines(trx, ctx, id)
        if (cn.invoice_id && returned.length) {
          await holdInvoices(trx, plan, ctx, [cn.invoice_id], customer.id)
          const lines = await holdInvoiceLines(trx, plan, ctx, cn.invoice_id, customer.id)
          planReturnedQuantities(plan, cn.invoice_id, lines, returned.map((l) => ({ invoice_line_no: l.invoice_line_no, milli: -quantityFromDb(l.quantity) })))
        }
      },
    }
  },
  // Write-offs: the written-off part of the invoice is receivable again.
  async write_off(trx, plan, ctx, customer, id) {
    const wo = await getWriteOffRow(trx, ctx, id)
    const inv = (await holdInvoices(trx, plan, ctx, [wo.invoice_id], customer.id)).get(wo.invoice_id)!
    return {
      voided: false,
      available: inv.total - inv.outstanding,
      customer: { role: 'ar', side: 'debit' },
      allocations: [],
      async apply(amount) {
        if (inv.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`)
        planOutstanding(plan, ctx, inv, amount)
      },
    }
  },
  // Refunds: the money paid back becomes unapplied credit again, on the sources it was drawn from
  // (in drawing order, after what earlier reversals gave back); a voided source takes nothing back.
  async refund(trx, plan, ctx, customer, id) {
    const refund = await getRefund(trx, ctx, id)
    return {
      voided: false,
      available: Infinity,
      customer: { role: 'advances', side: 'credit' },
      allocations: [],
      method: refund.method,
      apply: (amount) => planRestoreRefundSources(trx, plan, ctx, customer, id, amount),
    }
  },
}

/** round_half_up(value × num / den) for non-negative integers, exact. */
function scale(value: number, num: number, den: number): number {
  if (num === den) return value
  const q = (BigInt(value) * BigInt(num) * 2n + BigInt(den)) / (2n * BigInt(den))
  return Number(q)
}

const FX_ROLES: ReadonlySet<string> = new Set(['fx_gain', 'fx_loss'])
const COST_ROLES: ReadonlySet<string> = new Set(['cogs', 'inventory'])

/**
 * The mirror of what is still open of `txn`'s entry, scaled to `amount` of `remaining`: per
 * non-customer role and account, the original's signed amount net of earlier reversals, sides
 * swapped, on the same accounts (not mapped again: a changed chart of accounts or payment method
 * role must not send a reversal elsewhere than the original). The customer line carries exactly
 * `amount`, on the original's customer account; a rounding residue goes to the largest line
 * opposite it (revenue rather than cost). A reversal of everything that remains is therefore exact.
 */
async function planMirror(
  trx: Trx,
  plan: Plan,
  ctx: RequestContext,
  lc: LedgerContext,
  txn: CustomerTransactionRow,
  doc: Reversible,
  input: { amount: number; remaining: number; posting_date: string; reason: string; customer_id: string },
): Promise<BuiltEntry> {
  const { original, lines } = await entryWithReversals(trx, ctx, txn)
  const open = new Map<string, { role: LineRole; account_code: string; signed: number }>()
  let openArBase = 0
  let customerAccount: string | undefined
  for (const l of lines) {
    if (l.role === 'ar') openArBase += l.debit - l.credit
    if (l.role === doc.customer.role) customerAccount ??= l.account_code
    if (l.role === 'ar' || l.role === 'advances' || FX_ROLES.has(l.role)) continue
    const key = `${l.role}\u0000${l.account_code}`
    const o = open.get(key) ?? open.set(key, { role: l.role, account_code: l.account_code, signed: 0 }).get(key)!
    o.signed += l.tx_debit - l.tx_credit
  }

  const { amount, remaining } = input
  const mirror: ProposedLine[] = []
  for (const { role, account_code, signed } of open.values()) {
    if (signed !== 0) mirror.push({ role, account_code, side: signed > 0 ? 'credit' : 'debit', amount: scale(Math.abs(signed), amount, remaining) })
  }
  const customerLine: ProposedLine = {
    role: doc.customer.role,
    side: doc.customer.side,
    amount,
    customer_id: input.customer_id,
    base: doc.customer.role === 'ar' ? scale(Math.abs(openArBase), amount, remaining) : undefined,
    account_code: customerAccount,
  }
  const debit = [...mirror, customerLine].reduce((s, l) => s + (l.side === 'debit' ? l.amount : 0), 0)
  const credit = [...mirror, customerLine].reduce((s, l) => s + (l.side === 'credit' ? l.amount : 0), 0)
  if (debit !== credit) {
    const opposite = mirror.filter((l) => l.side !== customerLine.side)
    const candidates = opposite.some((l) => !COST_ROLES.has(l.role)) ? opposite.filter((l) => !COST_ROLES.has(l.role)) : opposite
    if (!candidates.length) throw new Error(`reversal of ${txn.id}: nothing to balance against`)
    const target = candidates.reduce((a, b) => (a.amount >= b.amount ? a : b))
    target.amount += target.side === 'credit' ? debit - credit : credit - debit
  }
  return plan.post(trx, ctx, {
    event: 'reversal',
    source_type: txn.source_type,
    source_id: txn.source_id,
    entry_date: input.posting_date,
    currency: original.currency,
    base_currency: lc.base_currency,
    exchange_rate: original.exchange_rate,
    method: doc.method,
    memo: input.reason,
    reverses_entry_id: txn.journal_entry_id,
    lines: [customerLine, ...mirror],
  })
}

/**
 * Plans the reversal of a sub-ledger row of the held customer, whole (`amount` omitted: a void) or
 * in part. The sum of a row's reversals never exceeds its amount (`reversal_exceeds_remaining`);
 * once nothing remains or its document is void, `already_reversed`; a reversal is never reversed.
 */
export async function planReversal(trx: Trx, plan: Plan, ctx: RequestContext, lc: LedgerContext, customer: CustomerState, txnId: string, input: ReverseInput) {
  // Read after the customer lock: the sum of earlier reversals is final for this transaction.
  const txn = await getTxn(trx, ctx, txnId)
  if (txn.customer_id !== customer.id) throw new Error(`transaction ${txnId} belongs to another customer`)
  if (txn.type === 'reversal') throw new AppError('invalid_state', 'A reversal cannot be reversed.', { param: 'id' })
  const load = LOADERS[txn.source_type]
  if (!load) throw new AppError('invalid_state', `A '${txn.type}' transaction cannot be reversed here.`, { param: 'id' })
  const remaining = Math.abs(txn.amount) - Math.abs(txn.reversals_sum)
  let doc = await load(trx, plan, ctx, customer, txn.source_id)
  // Reversing twice is `already_reversed`, whatever became of the customer since.
  if (doc.voided || remaining <= 0) throw new AppError('already_reversed', `Transaction ${txn.id} is already reversed.`, { param: 'id' })
  if (customer.status === 'merged') throw new AppError('customer_inactive', `Customer '${customer.id}' was merged into another: its history is final.`, { param: 'id' })

  const postingDate = input.posting_date ?? lc.today
  const full = input.amount === undefined
  if (full && doc.allocations.length) {
    for (const id of doc.allocations) await planUnapply(trx, plan, ctx, lc, customer, id, { reason: input.reason, posting_date: postingDate })
    doc = await load(trx, plan, ctx, customer, txn.source_id)
  }
  const available = Math.min(doc.available, remaining)
  const amount = input.amount ?? available
  if (full && doc.voidNeedsAll && doc.available !== remaining) {
    throw new AppError('invalid_state', `Only ${doc.available} of the ${remaining} left to reverse is outstanding: reverse its write-offs first.`, { param: 'id' })
  }
  if (full && amount === 0) throw new AppError('invalid_state', 'Nothing is left to reverse: the credit was refunded.', { param: 'id' })
  if (amount > available) {
    throw new AppError('reversal_exceeds_remaining', `At most ${available} of transaction ${txn.id} can be reversed.`, {
      param: 'amount',
      details: { remaining, available, requested: amount },
    })
  }
  const voids = full || amount === remaining

  const entry = await planMirror(trx, plan, ctx, lc, txn, doc, { amount, remaining, posting_date: postingDate, reason: input.reason, customer_id: customer.id })
  await doc.apply(amount, voids ? input.reason : null)
  const signed = doc.customer.side === 'debit' ? amount : -amount
  const staged = stageBalanceChange(ctx, customer, {
    pending: doc.customer.role === 'ar' ? signed : 0,
    advance: doc.customer.role === 'advances' ? -signed : 0,
    txn: {
      type: 'reversal',
      reference: txn.reference,
      source_type: txn.source_type,
      source_id: txn.source_id,
      posting_date: postingDate,
      journal_entry_id: entry.id,
      reverses_id: txn.id,
      reason: input.reason,
    },
  })
  plan.balance(staged)
  const reversal = transactionView({ ...staged.txn!, created_at: customer.locked_at, reversals_sum: 0 })
  const reversed = transactionView({ ...txn, reversals_sum: txn.reversals_sum + (staged.txn!.amount as number) })
  plan.audit(ctx, {
    action: voids && doc.voidEvent ? doc.voidEvent.type : 'transaction.reversed',
    entity_type: txn.source_type,
    entity_id: txn.source_id,
    before: { transaction: txn.id, remaining },
    after: { reversal: reversal.id, amount, journal_entry: entry.id },
    reason: input.reason,
  })
  plan.event(ctx, 'transaction.reversed', { ...reversal, reversed_transaction: reversed })
  if (voids && doc.voidEvent) plan.announce(ctx, doc.voidEvent.type, doc.voidEvent.view)
  return { ...reversal, reversed_transaction: reversed }
}

/** POST /v1/transactions/:id/reverse */
export async function reverseTransactionById(trx: Trx, ctx: RequestContext, txnId: string, input: ReverseInput) {
  const { customer_id } = await getTxn(trx, ctx, txnId)
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const customer = await holdCustomer(trx, plan, ctx, customer_id)
  const result = await planReversal(trx, plan, ctx, lc, customer, txnId, input)
  await plan.write(trx)
  return result
}

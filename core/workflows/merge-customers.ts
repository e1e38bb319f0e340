import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { toBaseAmount } from '../kernel/money'
import { ledgerContext, nextNumber, stageBalanceChange, type CustomerState } from '../ledger/engine'
import { Plan } from '../ledger/plan'
import { planInvoiceRow, openInvoicesOldestFirst, type InvoiceRow } from '../invoices/model'
import { planCreditNoteRow } from '../credit-notes/model'
import { markCustomerMerged } from '../customers/service'
import { openDisputeCount } from '../disputes/model'
import { planMergeRow, type MergeView, type Moved } from '../merges/model'
import type { MergeInput } from '../merges/schemas'
import { planUnapplied, sourcesWithCredit, type CreditSource } from './steps/credit-sources'
import { holdCreditSource, holdCustomers, holdInvoices } from './steps/locks'
import { planAllocations, planBaseShares } from './steps/settle'

/**
 * Workflow: merge a duplicate customer into another (POST /v1/customers/:id/merge). Open items and
 * balances move through one balanced transfer entry; nothing already posted is rewritten, so the
 * source's history stays as it was, readable, and the source ends `merged`.
 *
 * - Each open invoice of the source is settled on the source by a transfer credit note (applied to
 *   it, crediting the AR base the invoice still carries) and carried on the target by a debit note
 *   of its outstanding, with its due date and rate (aging and overdue tracking continue).
 * - Each unapplied payment or credit note of the source is applied to a transfer debit note on the
 *   source and carried on the target by a credit note of that amount at its rate.
 * - The entry: Dr AR (target) / Cr AR (source) for the invoices, Dr customer advances (source) /
 *   Cr customer advances (target) for the credits, each side at the same base; the sub-ledger rows
 *   `merge_out` and `merge_in` move the balances.
 *
 * Refused: the same customer, a deleted or merged one, different currencies, an open dispute on the
 * source. Lock: both customers (id order), the source's open invoices, then its credits.
 */

const MAX_OPEN_ITEMS = 10_000

function assertMergeable(c: CustomerState, param: string): void {
  if (c.deleted_at) throw new AppError('customer_deleted', `Customer '${c.id}' is deleted.`, { param })
  if (c.status === 'merged') throw new AppError('invalid_state', `Customer '${c.id}' is already merged into another.`, { param })
}

export async function mergeCustomers(trx: Trx, ctx: RequestContext, sourceId: string, input: MergeInput): Promise<MergeView> {
  const lc = await ledgerContext(trx, ctx)
  const plan = new Plan(ctx.tenantId)
  const held = await holdCustomers(trx, plan, ctx, [sourceId, input.into])
  const source = held.get(sourceId)
  if (!source) throw notFound('customer', sourceId, 'id')
  if (sourceId === input.into) throw new AppError('validation_failed', 'A customer cannot be merged into itself.', { param: 'into' })
  const target = held.get(input.into)
  if (!target) throw notFound('customer', input.into, 'into')
  assertMergeable(source, 'id')
  assertMergeable(target, 'into')
  if (source.currency !== target.currency) {
    throw new AppError('currency_mismatch', `Customer '${source.id}' keeps ${source.currency}, '${target.id}' ${target.currency}: only customers of one currency merge.`, { param: 'into' })
  }
  if ((await openDisputeCount(trx, ctx, source.id)) > 0) {
    throw new AppError('dispute_open', `Customer '${source.id}' has an open dispute: resolve it before merging.`, { param: 'id' })
  }

  const open = await openInvoicesOldestFirst(trx, ctx, source.id, MAX_OPEN_ITEMS + 1)
  const creditIds = await sourcesWithCredit(trx, ctx, source.id, MAX_OPEN_ITEMS + 1)
  if (open.length > MAX_OPEN_ITEMS || creditIds.length > MAX_OPEN_ITEMS) {
    throw new AppError('invalid_state', `Customer '${source.id}' has more than ${MAX_OPEN_ITEMS} open items; settle some first.`, { param: 'id' })
  }
  const invoices = [...(await holdInvoices(trx, plan, ctx, open.map((i) => i.id), source.id)).values()].sort((a, b) =>
    a.due_date < b.due_date ? -1 : a.due_date > b.due_date ? 1 : a.id < b.id ? -1 : 1,
  )
  const credits: CreditSource[] = []
  for (const id of creditIds) credits.push(await holdCreditSource(trx, plan, ctx, source.id, id))

  const settlements = invoices.map((inv) => ({ inv, amount: inv.outstanding }))
  const arBases = await planBaseShares(trx, plan, ctx, settlements)
  const unapplied = credits.map((c) => c.unapplied_amount)
  const advBases = credits.map((c, i) => toBaseAmount(unapplied[i], c.currency, lc.base_currency, c.exchange_rate))
  const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0)
  const ar = { amount: sum(settlements.map((s) => s.amount)), base: sum(arBases) }
  const adv = { amount: sum(unapplied), base: sum(advBases) }

  const id = newId('mrg')
  const today = lc.today
  const label = `Merged into ${target.id}: ${input.reason}`.slice(0, 500)
  const moved: Moved = { invoices: [], credits: [], pending_balance: ar.amount, advance_balance: adv.amount }
  let entryId: string | null = null

  if (ar.amount > 0 || adv.amount > 0) {
    // Every line carries its base, so the entry's own rate is nominal.
    const entry = await plan.post(trx, ctx, {
      event: 'merge',
      source_type: 'merge',
      source_id: id,
      entry_date: today,
      currency: source.currency,
      base_currency: lc.base_currency,
      exchange_rate: source.currency === lc.base_currency ? '1' : (invoices[0]?.exchange_rate ?? credits[0].exchange_rate),
      memo: label,
      lines: [
        { role: 'ar', side: 'debit', amount: ar.amount, customer_id: target.id, base: ar.base },
        { role: 'ar', side: 'credit', amount: ar.amount, customer_id: source.id, base: ar.base },
        { role: 'advances', side: 'debit', amount: adv.amount, customer_id: source.id, base: adv.base },
        { role: 'advances', side: 'credit', amount: adv.amount, customer_id: target.id, base: adv.base },
      ],
    })
    entryId = entry.id
    const txn = (type: 'merge_out' | 'merge_in') => ({ type, reference: id, source_type: 'merge', source_id: id, posting_date: today, journal_entry_id: entry.id, reason: input.reason })
    plan.balance(stageBalanceChange(ctx, source, { pending: -ar.amount, advance: -adv.amount, txn: txn('merge_out') }))
    plan.balance(stageBalanceChange(ctx, target, { pending: ar.amount, advance: adv.amount, txn: txn('merge_in') }))

    // The source's invoices: settled by one transfer credit note, each carried by a debit note.
    if (ar.amount > 0) {
      const cnId = newId('cn')
      planCreditNoteRow(
        plan,
        ctx,
        {
          id: cnId, number: await nextNumber(trx, ctx, 'credit_note', 'CN'), customer_id: source.id, invoice_id: null, currency: source.currency,
          exchange_rate: entry.input.exchange_rate, subtotal: ar.amount, tax: 0, amount: ar.amount, unapplied_amount: 0, reason: label, issue_date: today,
          journal_entry_id: entry.id,
        },
        [],
        source.locked_at,
      )
      planAllocations(plan, ctx, source, { type: 'credit_note', id: cnId, journal_entry_id: entry.id, date: today }, settlements.map((s, i) => ({ ...s, base: arBases[i] })))
      for (const [i, inv] of invoices.entries()) {
        const carried = await carryInvoice(trx, plan, ctx, target, inv, settlements[i].amount, arBases[i], entry.id, today)
        moved.invoices.push({ from: inv.id, to: carried, amount: settlements[i].amount })
      }
    }

    // The source's credits: applied to one transfer debit note, each carried by a credit note.
    if (adv.amount > 0) {
      const dnId = newId('inv')
      const { row: dn } = planInvoiceRow(
        plan,
        ctx,
        {
          id: dnId, number: await nextNumber(trx, ctx, 'debit_note', 'DN'), kind: 'debit_note', customer_id: source.id, currency: source.currency,
          exchange_rate: entry.input.exchange_rate, issue_date: today, due_date: today, subtotal: adv.amount, tax: 0, total: adv.amount, total_base: adv.base,
          memo: label, sale_id: null, journal_entry_id: entry.id, credit_override_reason: null, created_by: ctx.keyId ?? ctx.role,
        },
        [{ line_no: 1, description: label, product_ref: null, quantity: '1', unit_amount: adv.amount, tax_rate: '0', unit_cost: null, net_amount: adv.amount, tax_amount: 0 }],
        source.locked_at,
      )
      for (const [i, c] of credits.entries()) {
        if (unapplied[i] === 0) continue
        planUnapplied(plan, c, -unapplied[i])
        planAllocations(plan, ctx, source, { type: c.type, id: c.id, journal_entry_id: entry.id, date: today }, [{ inv: dn, amount: unapplied[i], base: advBases[i] }])
        const cnId = newId('cn')
        planCreditNoteRow(
          plan,
          ctx,
          {
            id: cnId, number: await nextNumber(trx, ctx, 'credit_note', 'CN'), customer_id: target.id, invoice_id: null, currency: target.currency,
            exchange_rate: c.exchange_rate, subtotal: unapplied[i], tax: 0, amount: unapplied[i], unapplied_amount: unapplied[i],
            reason: `Carried over from ${c.id} of ${source.id}`, issue_date: today, journal_entry_id: entry.id,
          },
          [],
          target.locked_at,
        )
        moved.credits.push({ from: c.id, to: cnId, amount: unapplied[i] })
      }
    }
  }

  const view = planMergeRow(plan, ctx, { id, source_id: source.id, target_id: target.id, reason: input.reason, journal_entry_id: entryId, moved }, source.locked_at)
  plan.audit(ctx, { action: 'customer.merged', entity_type: 'customer', entity_id: source.id, before: { status: source.status }, after: { customer: source.id, status: 'merged', merged_into: target.id, merge: id, journal_entry: entryId, moved }, reason: input.reason })
  plan.event(ctx, 'customer.merged', view)
  await plan.write(trx)
  await markCustomerMerged(trx, ctx, source.id, target.id)
  return view
}

/** Carries an open invoice of the source onto the target: a debit note of its outstanding, same due date and rate. */
async function carryInvoice(trx: Trx, plan: Plan, ctx: RequestContext, target: CustomerState, inv: InvoiceRow, amount: number, base: number, entryId: string, today: string): Promise<string> {
  const id = newId('inv')
  const memo = `Carried over from ${inv.number} of ${inv.customer_id}`
  planInvoiceRow(
    plan,
    ctx,
    {
      id, number: await nextNumber(trx, ctx, 'debit_note', 'DN'), kind: 'debit_note', customer_id: target.id, currency: inv.currency, exchange_rate: inv.exchange_rate,
      issue_date: today, due_date: inv.due_date, subtotal: amount, tax: 0, total: amount, total_base: base, memo, sale_id: null, journal_entry_id: entryId,
      credit_override_reason: null, created_by: ctx.keyId ?? ctx.role,
    },
    [{ line_no: 1, description: memo, product_ref: null, quantity: '1', unit_amount: amount, tax_rate: '0', unit_cost: null, net_amount: amount, tax_amount: 0 }],
    target.locked_at,
  )
  return id
}

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { mulRound } from '../kernel/money'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { changeOutstanding, InvoiceRow, lockInvoices } from '../invoices/service'
import { assertCustomerUsable, changeBalance, CustomerState, ledgerContext, lockCustomer, postEntry } from '../ledger/engine'

/**
 * Allocations: which payment or credit note paid which invoice. Applying credit moves the amount
 * from the source's `unapplied_amount` (advance balance) to the invoice (pending balance);
 * un-applying moves it back. Every other module applies or un-applies credit through here.
 */

export type CreditSourceType = 'payment' | 'credit_note'

export interface AllocationRow {
  id: string
  customer_id: string
  source_type: CreditSourceType
  source_id: string
  invoice_id: string
  amount: number
  base_amount: number
  effective_date: string
  status: 'applied' | 'reversed'
  journal_entry_id: string | null
  reversal_entry_id: string | null
  reversed_at: Date | null
  reverse_reason: string | null
  created_at: Date
}

export function allocationView(a: AllocationRow) {
  return {
    id: a.id,
    object: 'allocation' as const,
    source: a.source_id,
    source_type: a.source_type,
    invoice: a.invoice_id,
    customer: a.customer_id,
    amount: a.amount,
    effective_date: a.effective_date,
    status: a.status,
    journal_entry: a.journal_entry_id,
    reversal_entry: a.reversal_entry_id,
    reversed_at: a.reversed_at ? a.reversed_at.toISOString() : null,
    reverse_reason: a.reverse_reason,
    created: a.created_at.toISOString(),
  }
}

export type AllocationView = ReturnType<typeof allocationView>

export async function allocationsForInvoice(trx: Trx, ctx: RequestContext, invoiceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, invoice_id: invoiceId }).orderBy('id')
  return rows.map(allocationView)
}

export async function allocationsForSource(trx: Trx, ctx: RequestContext, sourceId: string) {
  const rows: AllocationRow[] = await trx('allocations').where({ tenant_id: ctx.tenantId, source_id: sourceId }).orderBy('id')
  return rows.map(allocationView)
}

/** Allocations of many sources in one query, grouped by source id. */
export async function allocationsForSources(trx: Trx, ctx: RequestContext, sourceIds: string[]): Promise<Map<string, AllocationView[]>> {
  const rows: AllocationRow[] = sourceIds.length
    ? await trx('allocations').where({ tenant_id: ctx.tenantId }).whereIn('source_id', sourceIds).orderBy('id')
    : []
  const out = new Map<string, AllocationView[]>(sourceIds.map((id) => [id, []]))
  for (const r of rows) out.get(r.source_id)!.push(allocationView(r))
  return out
}

export async function getAllocation(trx: Trx, ctx: RequestContext, id: string) {
  const row: AllocationRow | undefined = await trx('allocations').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('allocation', id)
  return allocationView(row)
}

// ---- Credit sources: payments and credit notes with unapplied credit ----

/** A payment or credit note as a source of credit (`status` is `voided` once voided). */
export interface CreditSource {
  type: CreditSourceType
  id: string
  customer_id: string
  currency: string
  exchange_rate: string
  amount: number
  unapplied_amount: number
  status: string
}

const SOURCE_TABLES: Record<CreditSourceType, string> = { payment: 'payments', credit_note: 'credit_notes' }

/** The source type an id names by its prefix (`pay_`, `cn_`), or null. */
export function creditSourceType(id: string): CreditSourceType | null {
  if (id.startsWith('pay_')) return 'payment'
  if (id.startsWith('cn_')) return 'credit_note'
  return null
}

async function readSource(trx: Trx, ctx: RequestContext, id: string, param: string, forUpdate: boolean): Promise<CreditSource> {
  const type = creditSourceType(id)
  if (!type) throw notFound('payment or credit note', id, param)
  const query = trx(SOURCE_TABLES[type])
    .where({ tenant_id: ctx.tenantId, id })
    .first('id', 'customer_id', 'currency', 'exchange_rate', 'amount', 'unapplied_amount', 'status')
  const row = await (forUpdate ? query.forUpdate() : query)
  if (!row) throw notFound(type === 'payment' ? 'payment' : 'credit note', id, param)
  return { type, ...row }
}

/** The customer a source belongs to (read without a lock: only to know which customer to lock). */
export async function creditSourceCustomer(trx: Trx, ctx: RequestContext, id: string, param = 'source'): Promise<string> {
  return (await readSource(trx, ctx, id, param, false)).customer_id
}

/** Locks a payment or credit note of the (already locked) customer; another customer's answers 404. */
export async function lockCreditSource(trx: Trx, ctx: RequestContext, customerId: string, id: string, param = 'source'): Promise<CreditSource> {
  const source = await readSource(trx, ctx, id, param, true)
  if (source.customer_id !== customerId) throw notFound(source.type === 'payment' ? 'payment' : 'credit note', id, param)
  return source
}

export function assertSourceLive(source: CreditSource, param = 'source'): void {
  if (source.status === 'voided') throw new AppError('invalid_state', `${source.id} is voided.`, { param })
}

/**
 * Moves a locked source's unapplied amount. A source's `unapplied_amount` is always its amount −
 * live allocations − refunds from it (− what a void took); callers check limits first, so leaving
 * [0, amount] here is a bug.
 */
export async function changeUnapplied(trx: Trx, ctx: RequestContext, source: CreditSource, delta: number): Promise<void> {
  const unapplied = source.unapplied_amount + delta
  if (unapplied < 0 || unapplied > source.amount) throw new Error(`${source.id} unapplied amount would leave [0, ${source.amount}]`)
  await trx(SOURCE_TABLES[source.type]).where({ tenant_id: ctx.tenantId, id: source.id }).update({ unapplied_amount: unapplied })
  source.unapplied_amount = unapplied
}

// ---- Settling invoices ----

/** A void invoice takes no allocation (the same answer write-offs and credit notes give). */
export function assertInvoiceOpen(inv: InvoiceRow, param = 'invoice'): void {
  if (inv.status === 'void') throw new AppError('invalid_state', `Invoice '${inv.id}' is void.`, { param })
}

/**
 * Base-currency AR amounts that settling `amount` of each locked invoice credits: the invoice's own
 * rate, and for the settlement that clears an invoice whatever AR base the invoice still carries, so
 * a paid invoice leaves no base residue in AR. Carried = total_base − live allocations − write-offs
 * + what reversals of its write-offs put back − what partial reversals of the invoice took out.
 */
export async function invoiceBaseShares(trx: Trx, ctx: RequestContext, items: { inv: InvoiceRow; amount: number }[]): Promise<number[]> {
  const clearing = items.filter((i) => i.amount === i.inv.outstanding).map((i) => i.inv.id)
  const settled = new Map<string, number>()
  if (clearing.length) {
    const { rows } = await trx.raw(
      `select invoice_id, sum(base)::bigint as base from (
         select invoice_id, base_amount as base from allocations where tenant_id = :t and status = 'applied' and invoice_id = any(:ids)
         union all
         select invoice_id, base_amount from write_offs where tenant_id = :t and invoice_id = any(:ids)
         union all
         select e.source_id, l.credit - l.debit
           from journal_entries e join journal_lines l on l.tenant_id = e.tenant_id and l.entry_id = e.id and l.role = 'ar'
          where e.tenant_id = :t and e.event = 'reversal' and e.source_id = any(:ids)
         union all
         select w.invoice_id, l.credit - l.debit
           from write_offs w
           join journal_entries e on e.tenant_id = w.tenant_id and e.source_id = w.id and e.event = 'reversal'
           join journal_lines l on l.tenant_id = e.tenant_id and l.entry_id = e.id and l.role = 'ar'
          where w.tenant_id = :t and w.invoice_id = any(:ids)
       ) s group by invoice_id`,
      { t: ctx.tenantId, ids: clearing },
    )
    for (const r of rows) settled.set(r.invoice_id, Number(r.base))
  }
  return items.map(({ inv, amount }) =>
    amount === inv.outstanding ? inv.total_base - (settled.get(inv.id) ?? 0) : mulRound(amount, inv.exchange_rate, 'exchange_rate'),
  )
}

export async function invoiceBaseShare(trx: Trx, ctx: RequestContext, inv: InvoiceRow, amount: number): Promise<number> {
  return (await invoiceBaseShares(trx, ctx, [{ inv, amount }]))[0]
}

export interface ApplyCreditInput {
  source_type: CreditSourceType
  source_id: string
  invoice_id: string
  amount: number
  effective_date: string
  /**
   * Default true: post 'advance_applied' (Dr advances / Cr ar) and move the cached balance.
   * false: the caller's own entry already credited AR for this amount (a payment's or a credit
   * note's applied part) and moved the balance itself; only the allocation row, the source's
   * unapplied amount and the invoice's outstanding change. Pass that entry's id and the AR base it
   * credited (from `invoiceBaseShare`, computed before posting).
   */
  post?: boolean
  journal_entry_id?: string
  base_amount?: number
}

/**
 * Applies unapplied credit of a payment or credit note to an invoice of the same customer. The
 * customer must be locked by the caller; this locks the source, then the invoice. The caller's
 * in-memory InvoiceRow of that invoice (if any) is stale afterwards: re-lock it before using it.
 */
export async function applyCredit(trx: Trx, ctx: RequestContext, customer: CustomerState, input: ApplyCreditInput): Promise<AllocationView> {
  const post = input.post ?? true
  if (!post && !input.journal_entry_id) throw new Error('applyCredit with post: false needs the journal entry that credited AR')
  const source = await lockCreditSource(trx, ctx, customer.id, input.source_id)
  if (source.type !== input.source_type) throw notFound(input.source_type, input.source_id, 'source')
  assertSourceLive(source)
  const inv = (await lockInvoices(trx, ctx, [input.invoice_id], customer.id)).get(input.invoice_id)!
  assertInvoiceOpen(inv)
  if (input.amount > source.unapplied_amount) {
    throw new AppError('over_allocation', `The amount exceeds ${source.id}'s unapplied amount ${source.unapplied_amount}.`, { param: 'amount' })
  }
  if (input.amount > inv.outstanding) {
    throw new AppError('over_allocation', `The amount exceeds invoice ${inv.id}'s outstanding ${inv.outstanding}.`, { param: 'amount' })
  }

  const id = newId('alc')
  const base = input.base_amount ?? (await invoiceBaseShare(trx, ctx, inv, input.amount))
  let entryId = input.journal_entry_id ?? null
  if (post) {
    const lc = await ledgerContext(trx, ctx)
    entryId = await postEntry(trx, ctx, {
      event: 'advance_applied',
      source_type: 'allocation',
      source_id: id,
      entry_date: input.effective_date,
      currency: source.currency,
      base_currency: lc.base_currency,
      exchange_rate: source.exchange_rate,
      lines: [
        { role: 'advances', side: 'debit', amount: input.amount, customer_id: customer.id },
        { role: 'ar', side: 'credit', amount: input.amount, customer_id: customer.id, base },
      ],
    })
    await changeBalance(trx, ctx, customer, { pending: -input.amount, advance: -input.amount })
  }
  await changeUnapplied(trx, ctx, source, -input.amount)
  await changeOutstanding(trx, ctx, inv, -input.amount)
  const [row] = await trx('allocations')
    .insert({
      tenant_id: ctx.tenantId,
      id,
      customer_id: customer.id,
      source_type: source.type,
      source_id: source.id,
      invoice_id: inv.id,
      amount: input.amount,
      base_amount: base,
      effective_date: input.effective_date,
      status: 'applied',
      journal_entry_id: entryId,
      created_by: ctx.keyId ?? ctx.role,
    })
    .returning('*')
  const view = allocationView(row)
  await recordAudit(trx, ctx, { action: 'allocation.created', entity_type: 'allocation', entity_id: id, after: { source: source.id, invoice: inv.id, amount: input.amount } })
  await emitEvent(trx, ctx, 'allocation.created', view)
  return view
}

/**
 * Un-applies one allocation: the mirror of its AR credit (Dr ar at the allocation's base) against
 * the source's advances (Cr advances at the source's rate), the difference being the realized FX
 * the application booked. The invoice reopens by the amount and the source regains it as unapplied
 * credit, also for a credit note's allocation written with `post: false` (voiding a credit note after
 * un-applying it therefore reverses advances, not AR). The customer must be locked by the caller;
 * this locks the allocation, the source, then the invoice; a voided source is allowed (its void
 * un-applies it). Stale caller InvoiceRows: see applyCredit.
 */
export async function unapplyAllocation(
  trx: Trx,
  ctx: RequestContext,
  customer: CustomerState,
  allocationId: string,
  opts: { reason: string; posting_date: string },
): Promise<void> {
  const alc: AllocationRow | undefined = await trx('allocations')
    .where({ tenant_id: ctx.tenantId, id: allocationId, customer_id: customer.id })
    .forUpdate()
    .first()
  if (!alc) throw notFound('allocation', allocationId)
  if (alc.status === 'reversed') throw new AppError('already_reversed', `Allocation ${alc.id} is already reversed.`)
  const source = await lockCreditSource(trx, ctx, customer.id, alc.source_id)
  const inv = (await lockInvoices(trx, ctx, [alc.invoice_id], customer.id)).get(alc.invoice_id)!
  const lc = await ledgerContext(trx, ctx)

  const entryId = await postEntry(trx, ctx, {
    event: 'reversal',
    realizes_fx: true,
    source_type: 'allocation',
    source_id: alc.id,
    entry_date: opts.posting_date,
    currency: source.currency,
    base_currency: lc.base_currency,
    exchange_rate: source.exchange_rate,
    memo: `Un-apply ${alc.id}`,
    lines: [
      { role: 'ar', side: 'debit', amount: alc.amount, customer_id: customer.id, base: alc.base_amount },
      { role: 'advances', side: 'credit', amount: alc.amount, customer_id: customer.id },
    ],
  })
  await changeBalance(trx, ctx, customer, { pending: alc.amount, advance: alc.amount })
  await changeUnapplied(trx, ctx, source, alc.amount)
  await changeOutstanding(trx, ctx, inv, alc.amount)
  const [row] = await trx('allocations')
    .where({ tenant_id: ctx.tenantId, id: alc.id })
    .update({ status: 'reversed', reversed_at: trx.fn.now(), reverse_reason: opts.reason, reversal_entry_id: entryId })
    .returning('*')
  await recordAudit(trx, ctx, {
    action: 'allocation.reversed',
    entity_type: 'allocation',
    entity_id: alc.id,
    before: { status: 'applied' },
    after: { status: 'reversed', journal_entry: entryId },
    reason: opts.reason,
  })
  await emitEvent(trx, ctx, 'allocation.reversed', allocationView(row))
}

// ---- Use cases behind /v1/allocations ----

/** POST /v1/allocations: applies a payment's or credit note's unapplied credit to an invoice, today. */
export async function createAllocation(trx: Trx, ctx: RequestContext, input: { source: string; invoice: string; amount: number }): Promise<AllocationView> {
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, await creditSourceCustomer(trx, ctx, input.source))
  assertCustomerUsable(customer)
  return applyCredit(trx, ctx, customer, {
    source_type: creditSourceType(input.source)!,
    source_id: input.source,
    invoice_id: input.invoice,
    amount: input.amount,
    effective_date: lc.today,
  })
}

/** POST /v1/allocations/:id/reverse: un-applies one allocation, posted today. */
export async function reverseAllocation(trx: Trx, ctx: RequestContext, id: string, reason: string): Promise<AllocationView> {
  const found = await trx('allocations').where({ tenant_id: ctx.tenantId, id }).first('customer_id')
  if (!found) throw notFound('allocation', id)
  const lc = await ledgerContext(trx, ctx)
  const customer = await lockCustomer(trx, ctx, found.customer_id)
  await unapplyAllocation(trx, ctx, customer, id, { reason, posting_date: lc.today })
  return getAllocation(trx, ctx, id)
}

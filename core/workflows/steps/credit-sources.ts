import type { Trx } from '../../kernel/db/knex'
import type { RequestContext } from '../../kernel/context'
import { AppError, notFound } from '../../kernel/errors'
import type { CreditSourceType } from '../../allocations/model'
import { paymentsWithCredit, planPaymentUnapplied, readPaymentCredit } from '../../payments/model'
import { creditNotesWithCredit, planCreditNoteUnapplied, readCreditNoteCredit } from '../../credit-notes/model'
import type { Plan } from '../../ledger/plan'

/**
 * Credit sources: a payment or a credit note seen as unapplied credit (the customer's advance
 * balance is the sum of their unapplied amounts). Workflows that apply, refund or reverse credit
 * use these steps; each record keeps its own SQL.
 */

export type { CreditSourceType }

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

/** The source type an id names by its prefix (`pay_`, `cn_`), or null. */
export function creditSourceType(id: string): CreditSourceType | null {
  if (id.startsWith('pay_')) return 'payment'
  if (id.startsWith('cn_')) return 'credit_note'
  return null
}

const label = (type: CreditSourceType) => (type === 'payment' ? 'payment' : 'credit note')

async function readSource(trx: Trx, ctx: RequestContext, id: string, param: string, forUpdate: boolean): Promise<CreditSource> {
  const type = creditSourceType(id)
  if (!type) throw notFound('payment or credit note', id, param)
  const row = type === 'payment' ? await readPaymentCredit(trx, ctx, id, forUpdate) : await readCreditNoteCredit(trx, ctx, id, forUpdate)
  if (!row) throw notFound(label(type), id, param)
  return { type, ...row }
}

/** The customer a source belongs to (read without a lock: only to know which customer to lock). */
export async function creditSourceCustomer(trx: Trx, ctx: RequestContext, id: string, param = 'source'): Promise<string> {
  return (await readSource(trx, ctx, id, param, false)).customer_id
}

/** Locks a payment or credit note of the (already locked) customer; another customer's answers 404. */
export async function lockCreditSource(trx: Trx, ctx: RequestContext, customerId: string, id: string, param = 'source'): Promise<CreditSource> {
  const source = await readSource(trx, ctx, id, param, true)
  if (source.customer_id !== customerId) throw notFound(label(source.type), id, param)
  return source
}

export function assertSourceLive(source: CreditSource, param = 'source'): void {
  if (source.status === 'voided') throw new AppError('invalid_state', `${source.id} is voided.`, { param })
}

/**
 * Plans a change of a held source's unapplied amount. A source's `unapplied_amount` is always its
 * amount − live allocations − refunds from it (− what a void took); callers check limits first, so
 * leaving [0, amount] here is a bug.
 */
export function planUnapplied(plan: Plan, source: CreditSource, delta: number): void {
  const unapplied = source.unapplied_amount + delta
  if (unapplied < 0 || unapplied > source.amount) throw new Error(`${source.id} unapplied amount would leave [0, ${source.amount}]`)
  if (source.type === 'payment') planPaymentUnapplied(plan, source.id, unapplied)
  else planCreditNoteUnapplied(plan, source.id, unapplied)
  source.unapplied_amount = unapplied
}

/** The customer's payments and credit notes with unapplied credit, oldest first (creation time, then id). */
export async function sourcesWithCredit(trx: Trx, ctx: RequestContext, customerId: string, limit: number): Promise<string[]> {
  const all = [...(await paymentsWithCredit(trx, ctx, customerId, limit)), ...(await creditNotesWithCredit(trx, ctx, customerId, limit))]
  all.sort((a, b) => a.created_at.getTime() - b.created_at.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  return all.slice(0, limit).map((s) => s.id)
}

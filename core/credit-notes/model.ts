import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { normalizeDecimal } from '../kernel/money'
import { quantityFromDb, quantityOut } from '../kernel/quantity'
import { applyRange, paginate } from '../kernel/pagination'
import type { CreditNoteListQuery } from './schemas'
import { defineTable } from '../kernel/db/table'
import type { Plan } from '../ledger/plan'
import type { DocumentRef, Metadata } from '../kernel/metadata'

/**
 * The credit-note record (`credit_notes`, `credit_note_lines`, the only SQL on those tables).
 * Issuing one is a workflow (core/workflows/credit-note.ts); credit adjustments are credit notes too.
 */

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
  external_id: string | null
  metadata: Metadata
  voided_at: Date | null
  void_reason: string | null
  created_at: Date
}

export interface CreditNoteLineRow {
  line_no: number
  invoice_id: string
  invoice_line_no: number
  /** numeric(12,3) text (core/kernel/quantity.ts) */
  quantity: string
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
    external_id: cn.external_id,
    metadata: cn.metadata,
    voided_at: cn.voided_at ? cn.voided_at.toISOString() : null,
    void_reason: cn.void_reason,
    created: cn.created_at.toISOString(),
    lines: lines.map((l) => ({
      line_no: l.line_no,
      invoice_line: l.invoice_line_no,
      quantity: quantityOut(quantityFromDb(l.quantity)),
      net_amount: l.net_amount,
      tax_amount: l.tax_amount,
      cost_amount: l.cost_amount,
    })),
    ...(allocations ? { allocations } : {}),
  }
}

/** Amounts already returned on an invoice line (net, tax, cost), by issued credit notes or planned. */
export interface ReturnedAmounts {
  net: number
  tax: number
  cost: number
}

/** What the invoice's issued (not voided) credit notes returned, per invoice line. */
export async function returnedByLine(trx: Trx, ctx: RequestContext, invoiceId: string): Promise<Map<number, ReturnedAmounts>> {
  const rows: { invoice_line_no: number; net: string; tax: string; cost: string }[] = await trx('credit_note_lines as l')
    .join('credit_notes as c', function () {
      this.on('c.tenant_id', 'l.tenant_id').andOn('c.id', 'l.credit_note_id')
    })
    .where({ 'l.tenant_id': ctx.tenantId, 'l.invoice_id': invoiceId, 'c.status': 'issued' })
    .groupBy('l.invoice_line_no')
    .select('l.invoice_line_no', trx.raw('sum(l.net_amount)::bigint as net, sum(l.tax_amount)::bigint as tax, sum(l.cost_amount)::bigint as cost'))
  return new Map(rows.map((r) => [r.invoice_line_no, { net: Number(r.net), tax: Number(r.tax), cost: Number(r.cost) }]))
}

export async function getCreditNoteRow(trx: Trx, ctx: RequestContext, id: string): Promise<CreditNoteRow> {
  const row: CreditNoteRow | undefined = await trx('credit_notes').where({ tenant_id: ctx.tenantId, id }).first()
  if (!row) throw notFound('credit note', id)
  return row
}

export async function creditNoteLines(trx: Trx, ctx: RequestContext, id: string): Promise<CreditNoteLineRow[]> {
  return trx('credit_note_lines').where({ tenant_id: ctx.tenantId, credit_note_id: id }).orderBy('line_no')
}

/** A page of credit notes with their lines (grouped by credit note id). */
export async function listCreditNoteRows(trx: Trx, ctx: RequestContext, q: CreditNoteListQuery) {
  const query = trx('credit_notes').where({ tenant_id: ctx.tenantId })
  if (q.customer) query.andWhere({ customer_id: q.customer })
  if (q.invoice) query.andWhere({ invoice_id: q.invoice })
  if (q.external_id) query.andWhere({ external_id: q.external_id })
  applyRange(query, q, 'issue_date', 'issue_date', 'date')
  const { rows, has_more } = await paginate<CreditNoteRow>(query, q)
  const ids = rows.map((r) => r.id)
  const lines: (CreditNoteLineRow & { credit_note_id: string })[] = ids.length
    ? await trx('credit_note_lines').where({ tenant_id: ctx.tenantId }).whereIn('credit_note_id', ids).orderBy(['credit_note_id', 'line_no'])
    : []
  return { rows, has_more, linesOf: (id: string) => lines.filter((l) => l.credit_note_id === id) }
}

/** A credit note's credit-source columns, locked (FOR UPDATE) when asked. */
export async function readCreditNoteCredit(trx: Trx, ctx: RequestContext, id: string, forUpdate: boolean) {
  const query = trx('credit_notes')
    .where({ tenant_id: ctx.tenantId, id })
    .first('id', 'customer_id', 'currency', 'exchange_rate', 'amount', 'unapplied_amount', 'status')
  const row: Pick<CreditNoteRow, 'id' | 'customer_id' | 'currency' | 'exchange_rate' | 'amount' | 'unapplied_amount' | 'status'> | undefined = await (forUpdate ? query.forUpdate() : query)
  return row
}

/** The customer's live credit notes with unapplied credit: id and creation time. */
export async function creditNotesWithCredit(trx: Trx, ctx: RequestContext, customerId: string, limit: number): Promise<{ id: string; created_at: Date }[]> {
  return trx('credit_notes')
    .where({ tenant_id: ctx.tenantId, customer_id: customerId })
    .whereNot('status', 'voided')
    .where('unapplied_amount', '>', 0)
    .orderBy(['created_at', 'id'])
    .limit(limit)
    .select('id', 'created_at')
}

export const creditNotesTable = defineTable<Omit<CreditNoteRow, 'created_at'> & { created_by: string }>(
  'credit_notes',
  {
    id: 'text', number: 'text', customer_id: 'text', invoice_id: 'text', currency: 'text', exchange_rate: 'numeric', subtotal: 'bigint',
    tax: 'bigint', amount: 'bigint', unapplied_amount: 'bigint', reason: 'text', status: 'text', issue_date: 'date',
    journal_entry_id: 'text', voided_at: 'timestamptz', void_reason: 'text', created_by: 'text', external_id: 'text', metadata: 'jsonb',
  },
  ['id'],
)

export const creditNoteLinesTable = defineTable<CreditNoteLineRow & { credit_note_id: string }>(
  'credit_note_lines',
  {
    credit_note_id: 'text', line_no: 'smallint', invoice_id: 'text', invoice_line_no: 'smallint', quantity: 'numeric', net_amount: 'bigint',
    tax_amount: 'bigint', cost_amount: 'bigint',
  },
  ['credit_note_id', 'line_no'],
)

export type CreditNoteInsert = Pick<
  CreditNoteRow,
  'id' | 'number' | 'customer_id' | 'invoice_id' | 'currency' | 'exchange_rate' | 'subtotal' | 'tax' | 'amount' | 'unapplied_amount' | 'reason' | 'issue_date' | 'journal_entry_id'
> &
  Partial<DocumentRef>

/** Plans a credit note's insert (issued) with its lines; returns the row as it will read back. */
export function planCreditNoteRow(plan: Plan, ctx: RequestContext, cn: CreditNoteInsert, lines: CreditNoteLineRow[], createdAt: Date): CreditNoteRow {
  const row: CreditNoteRow = { external_id: null, metadata: {}, ...cn, status: 'issued', voided_at: null, void_reason: null, created_at: createdAt }
  const { created_at: _c, ...cols } = row
  plan.insert(creditNotesTable, { ...cols, created_by: ctx.keyId ?? ctx.role })
  for (const l of lines) plan.insert(creditNoteLinesTable, { credit_note_id: cn.id, ...l })
  return row
}

/** Plans a credit note's new unapplied amount (the caller keeps it in [0, amount]). */
export function planCreditNoteUnapplied(plan: Plan, id: string, unapplied: number): void {
  plan.update(creditNotesTable, { id }, { unapplied_amount: unapplied })
}

/** Plans a credit note's void (its unapplied credit is taken back by the reversal first). */
export function planCreditNoteVoid(plan: Plan, id: string, reason: string, at: Date): void {
  plan.update(creditNotesTable, { id }, { status: 'voided', voided_at: at, void_reason: reason })
}

import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { mulRound } from '../kernel/money'
import type { InvoiceRow } from '../invoices/model'

/**
 * Read model (joins allocations, write-offs and the journal): the AR base an invoice still carries,
 * which settling workflows credit so a paid invoice leaves no base residue in AR.
 */

/**
 * Base-currency AR amounts that settling `amount` of each locked invoice credits: the invoice's own
 * rate, and for the settlement that clears an invoice whatever AR base the invoice still carries, so
 * a paid invoice leaves no base residue in AR. Carried = total_base − live allocations − write-offs
 * + what reversals of its write-offs put back − what partial reversals of the invoice took out
 * − what a plan not yet written has credited (`planned`, by invoice id).
 */
export async function invoiceBaseShares(
  trx: Trx,
  ctx: RequestContext,
  items: { inv: InvoiceRow; amount: number }[],
  planned: (invoiceId: string) => number = () => 0,
): Promise<number[]> {
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
    amount === inv.outstanding ? inv.total_base - (settled.get(inv.id) ?? 0) - planned(inv.id) : mulRound(amount, inv.exchange_rate, 'exchange_rate'),
  )
}


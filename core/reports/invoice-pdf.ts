import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { customerContact } from '../customers/service'
import { getInvoice, type InvoiceView } from '../views/documents'
import { addressLines, DocumentLayout, formatAmount, merchantOf, paymentInstructions, type Merchant, type StatementDocument } from './statement'

/**
 * An invoice as a document a merchant sends (a read model, it writes nothing): the merchant and
 * the customer, the invoice's dates and status, its lines with quantity, unit price, tax rate and
 * amounts, the totals with what is paid and what is due, the memo and how to pay; the header and
 * "page N of M" on every page (the layout of core/reports/statement.ts).
 */
export interface InvoiceDocument {
  merchant: Merchant
  customer: StatementDocument['customer']
  invoice: InvoiceView
}

const TITLES: Record<string, string> = { invoice: 'Invoice', debit_note: 'Debit note' }

/** `includePii`: the customer's address and tax id (left out for a key that may not view them). */
export async function invoiceDocument(trx: Trx, ctx: RequestContext, invoiceId: string, includePii: boolean): Promise<InvoiceDocument> {
  const invoice = await getInvoice(trx, ctx, invoiceId)
  const contact = await customerContact(trx, ctx, invoice.customer)
  return {
    merchant: await merchantOf(trx, ctx),
    customer: { id: contact.id, name: contact.name, address: includePii ? addressLines(contact.billing_address) : [], tax_id: includePii ? contact.tax_id : null },
    invoice,
  }
}

/** "0.2" → "20 %", "0.075" → "7.5 %" (exact: decimal strings, no float arithmetic). */
export function percent(rate: string): string {
  const [whole, frac = ''] = rate.split('.')
  const padded = frac.padEnd(2, '0')
  const units = `${whole}${padded.slice(0, 2)}`.replace(/^0+(?=\d)/, '')
  const rest = padded.slice(2).replace(/0+$/, '')
  return rest ? `${units}.${rest} %` : `${units} %`
}

export function invoicePdf(d: InvoiceDocument): Promise<Buffer> {
  const inv = d.invoice
  const cur = inv.currency.toUpperCase()
  const money = (n: number) => formatAmount(n, inv.currency)
  const title = TITLES[inv.kind] ?? 'Invoice'
  const layout = new DocumentLayout({ merchant: d.merchant.name, title, subline: `${inv.number} · ${d.customer.name} · issued ${inv.issue_date}`, author: d.merchant.name })
  layout.parties(d.merchant, d.customer)
  layout.keyValues([
    [`${title} number`, inv.number],
    ['Issue date', inv.issue_date],
    ['Due date', inv.due_date],
    ['Status', inv.status === 'void' ? `VOID${inv.void_reason ? ` (${inv.void_reason})` : ''}` : inv.status.replace(/_/g, ' ')],
  ])
  layout.table(
    'Lines',
    [
      { label: '#', width: 28 },
      { label: 'Description', width: 157 },
      { label: 'Qty', width: 40, align: 'right' },
      { label: `Unit price ${cur}`, width: 70, align: 'right' },
      { label: 'Tax rate', width: 46, align: 'right' },
      { label: `Net ${cur}`, width: 60, align: 'right' },
      { label: `Tax ${cur}`, width: 50, align: 'right' },
      { label: `Total ${cur}`, width: layout.width - 451, align: 'right' },
    ],
    inv.lines.map((l) => [String(l.line_no), l.description, String(l.quantity), money(l.unit_amount), percent(l.tax_rate), money(l.net_amount), money(l.tax_amount), money(l.total)]),
  )
  layout.keyValues([
    ['Subtotal', `${money(inv.subtotal)} ${cur}`],
    ['Tax', `${money(inv.tax)} ${cur}`],
    ['Total', `${money(inv.total)} ${cur}`, true],
    ['Paid and credited', `${money(inv.amount_paid)} ${cur}`],
    ['Amount due', `${money(inv.outstanding)} ${cur}`, true],
  ])
  if (inv.memo) layout.paragraph('Notes', inv.memo)
  if (inv.status !== 'void' && inv.outstanding > 0) {
    layout.paragraph('Payment instructions', paymentInstructions(d.merchant, d.customer.id, `${money(inv.outstanding)} ${cur} by ${inv.due_date}`, 'invoice'))
  }
  return layout.finish()
}

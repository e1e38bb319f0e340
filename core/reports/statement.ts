import { stringify } from 'csv-stringify/sync'
import PDFDocument from 'pdfkit'
import { currencyExponent } from '../kernel/money'
import type { Statement } from './service'

/** Renders a customer statement for people: amounts as decimals in the customer's currency. */

export function formatAmount(amount: number, currency: string): string {
  const exp = currencyExponent(currency)
  const abs = Math.abs(amount).toString().padStart(exp + 1, '0')
  const whole = exp ? abs.slice(0, -exp) : abs
  return `${amount < 0 ? '-' : ''}${whole}${exp ? `.${abs.slice(-exp)}` : ''}`
}

export function statementCsv(s: Statement): string {
  const money = (n: number) => formatAmount(n, s.currency)
  return stringify([
    ['date', 'type', 'reference', 'transaction', 'amount', 'balance', 'currency'],
    [s.from, 'opening_balance', '', '', '', money(s.opening_balance), s.currency],
    ...s.transactions.map((t) => [t.posting_date, t.type, t.reference, t.id, money(t.amount), money(t.running_balance), s.currency]),
    [s.to, 'closing_balance', '', '', '', money(s.closing_balance), s.currency],
  ])
}

export function statementPdf(s: Statement): Promise<Buffer> {
  const money = (n: number) => `${formatAmount(n, s.currency)} ${s.currency.toUpperCase()}`
  const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Statement ${s.customer} ${s.from}..${s.to}` } })
  const chunks: Buffer[] = []
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (c: Buffer) => chunks.push(c))
    doc.on('end', () => resolve(Buffer.concat(chunks)))
    doc.on('error', reject)
  })
  doc.fontSize(16).text('Statement of account')
  doc.fontSize(10).moveDown(0.5).text(`${s.name} (${s.customer})`).text(`Period: ${s.from} to ${s.to}`).moveDown()
  const cols = [50, 120, 210, 330, 450]
  const row = (cells: string[], bold = false) => {
    const y = doc.y
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica')
    cells.forEach((c, i) => doc.text(c, cols[i], y, { width: (cols[i + 1] ?? 545) - cols[i] - 5, lineBreak: false }))
    doc.moveDown(0.4)
  }
  row(['Date', 'Type', 'Reference', 'Amount', 'Balance'], true)
  row([s.from, 'Opening balance', '', '', money(s.opening_balance)])
  for (const t of s.transactions) {
    if (doc.y > 770) doc.addPage()
    row([t.posting_date, t.type, t.reference, money(t.amount), money(t.running_balance)])
  }
  row([s.to, 'Closing balance', '', '', money(s.closing_balance)], true)
  doc.end()
  return done
}

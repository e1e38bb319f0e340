import fs from 'node:fs'
import { stringify } from 'csv-stringify/sync'
import PDFDocument from 'pdfkit'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { currencyExponent } from '../kernel/money'
import { customerContact } from '../customers/service'
import type { Address } from '../customers/schemas'
import { agingBucket, daysBetween, emptyBuckets, type Buckets } from './aging'
import { customerStatement, type Statement } from './service'

/**
 * Customer statements for people (a read model: it reads customers, invoices, the ledger and the
 * tenant, and writes nothing): CSV, and a PDF a merchant can send — the merchant's name and
 * details, the customer's name and address, the period's transactions with a running balance, the
 * open invoices with their due dates, an aging summary and payment instructions, with a header and
 * "page N of M" on every page. Text of any script prints: Latin (incl. Polish) in DejaVu Sans,
 * CJK in Droid Sans Fallback (or Noto Sans CJK), embedded (Debian's fonts-dejavu-core,
 * fonts-droid-fallback, fonts-noto-cjk, installed by scripts/ensure-services.sh).
 */

// Intl.NumberFormat per call is slow, and a statement formats thousands of amounts.
const exponents = new Map<string, number>()

export function formatAmount(amount: number, currency: string): string {
  let exp = exponents.get(currency)
  if (exp === undefined) exponents.set(currency, (exp = currencyExponent(currency)))
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

// ---- the document's data ---------------------------------------------------------------------

export interface OpenItem {
  id: string
  number: string
  issue_date: string
  due_date: string
  total: number
  outstanding: number
  days_overdue: number
}

/** The customer's open invoices as of `asOf`, oldest due first, with days overdue (0 when not yet due). */
export async function openItems(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customerId: string, asOf: string): Promise<OpenItem[]> {
  const rows: { id: string; number: string; issue_date: string; due_date: string; total: string | number; outstanding: string | number }[] = await trx('invoices')
    .where({ tenant_id: ctx.tenantId, customer_id: customerId })
    .where('outstanding', '>', 0)
    .whereNot({ status: 'void' })
    .where('issue_date', '<=', asOf)
    .orderBy(['due_date', 'issue_date', 'id'])
    .limit(5000)
    .select('id', 'number', trx.raw(`to_char(issue_date, 'YYYY-MM-DD') as issue_date`), trx.raw(`to_char(due_date, 'YYYY-MM-DD') as due_date`), 'total', 'outstanding')
  return rows.map((r) => ({ ...r, total: Number(r.total), outstanding: Number(r.outstanding), days_overdue: Math.max(0, daysBetween(r.due_date, asOf)) }))
}

export function agingOf(items: OpenItem[]): Buckets {
  const b = emptyBuckets()
  for (const i of items) b[agingBucket(i.days_overdue)] += i.outstanding
  return b
}

export interface Merchant {
  name: string
  address: string | null
  tax_id: string | null
  email: string | null
  phone: string | null
  payment_instructions: string | null
}

/** The tenant as the sender of documents: its name and the optional `settings.merchant` details. */
export async function merchantOf(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): Promise<Merchant> {
  const row: { name: string; settings: { merchant?: Record<string, unknown> } | null } = await trx('tenants').where({ tenant_id: ctx.tenantId }).first('name', 'settings')
  const m = row?.settings?.merchant ?? {}
  const str = (v: unknown) => (typeof v === 'string' && v.trim() ? v : null)
  return {
    name: str(m.name) ?? str(m.legal_name) ?? row?.name ?? '',
    address: str(m.address),
    tax_id: str(m.tax_id),
    email: str(m.email),
    phone: str(m.phone),
    payment_instructions: str(m.payment_instructions),
  }
}

export interface StatementDocument {
  merchant: Merchant
  customer: { id: string; name: string; address: string[]; tax_id: string | null }
  statement: Statement
  open_items: OpenItem[]
  aging: Buckets
  as_of: string
}

/** A postal address as printed lines. */
export function addressLines(a: Address | null | undefined): string[] {
  if (!a) return []
  const cityLine = [a.postal_code, a.city].filter(Boolean).join(' ')
  return [a.line1, a.line2, [cityLine, a.state].filter(Boolean).join(', '), a.country].filter((l): l is string => !!l && l.trim() !== '')
}

/**
 * Everything a statement PDF shows. `includePii`: the customer's address and tax id (left out for
 * a caller that may not view personal data, as the JSON leaves them out).
 */
export async function statementDocument(trx: Trx, ctx: RequestContext, customerId: string, q: { from?: string; to?: string }, includePii: boolean): Promise<StatementDocument> {
  const statement = await customerStatement(trx, ctx, customerId, q)
  const contact = await customerContact(trx, ctx, customerId)
  const items = await openItems(trx, ctx, customerId, statement.to)
  return {
    merchant: await merchantOf(trx, ctx),
    customer: { id: contact.id, name: contact.name, address: includePii ? addressLines(contact.billing_address) : [], tax_id: includePii ? contact.tax_id : null },
    statement,
    open_items: items,
    aging: agingOf(items),
    as_of: statement.to,
  }
}

// ---- fonts -------------------------------------------------------------------------------------

const FONT_DIRS = ['/usr/share/fonts/truetype/dejavu', '/usr/share/fonts/dejavu', '/usr/share/fonts/TTF']
// Droid Sans Fallback first: a TrueType font subsets an order of magnitude faster than the CFF
// outlines of Noto Sans CJK (a statement prints its customer's name on every page).
const CJK_FILES = ['/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf', '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc', '/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc']
const CJK_BOLD_FILES = ['/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc', '/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc']

function findFont(dirs: string[], file: string): string | null {
  for (const d of dirs) if (fs.existsSync(`${d}/${file}`)) return `${d}/${file}`
  return null
}

interface Fonts {
  regular: Buffer | string
  bold: Buffer | string
  cjk: { file: string; data: Buffer } | null
  cjkBold: { file: string; data: Buffer } | null
}

let fonts: Fonts | null = null

/** Font files, read once per process; the PDF core fonts (Latin-1 only) when DejaVu is missing. */
function loadFonts(): Fonts {
  if (fonts) return fonts
  const regular = findFont(FONT_DIRS, 'DejaVuSans.ttf')
  const bold = findFont(FONT_DIRS, 'DejaVuSans-Bold.ttf')
  const cjk = CJK_FILES.find((f) => fs.existsSync(f))
  // Droid has no bold: bold CJK text uses the same face (a Noto bold would cost the CFF subset again).
  const cjkBold = cjk?.endsWith('.ttf') ? cjk : CJK_BOLD_FILES.find((f) => fs.existsSync(f))
  fonts = {
    regular: regular ? fs.readFileSync(regular) : 'Helvetica',
    bold: bold ? fs.readFileSync(bold) : 'Helvetica-Bold',
    cjk: cjk ? { file: cjk, data: fs.readFileSync(cjk) } : null,
    cjkBold: cjkBold ? { file: cjkBold, data: fs.readFileSync(cjkBold) } : cjk ? { file: cjk, data: fs.readFileSync(cjk) } : null,
  }
  return fonts
}

/** CJK ideographs, kana, hangul, CJK punctuation and full-width forms: set in the CJK font. */
const CJK_RE = /[\u2e80-\u2fff\u3000-\u30ff\u3100-\u31ff\u3200-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef]|[\ud840-\ud87f][\udc00-\udfff]/u

/** Splits text into runs of one font: [text, isCjk]. */
export function fontRuns(text: string): [string, boolean][] {
  const runs: [string, boolean][] = []
  for (const ch of text) {
    const cjk = CJK_RE.test(ch)
    const last = runs[runs.length - 1]
    if (last && last[1] === cjk) last[0] += ch
    else runs.push([ch, cjk])
  }
  return runs
}

// ---- the PDF -----------------------------------------------------------------------------------

const PAGE = { width: 595.28, height: 841.89, margin: 50 }
const HEADER_BOTTOM = 95
const FOOTER_TOP = PAGE.height - 45
const CONTENT_BOTTOM = FOOTER_TOP - 10

type Doc = InstanceType<typeof PDFDocument>

interface TextOpts {
  x: number
  y: number
  width: number
  size?: number
  bold?: boolean
  align?: 'left' | 'right' | 'center'
}

/** The registered font for a run; a CJK face without a bold cut serves bold text too (one embedded subset). */
const fontName = (cjk: boolean, bold: boolean | undefined, useCjk: boolean) =>
  cjk && useCjk ? (bold && loadFonts().cjkBold?.file !== loadFonts().cjk?.file ? 'cjk-bold' : 'cjk') : bold ? 'bold' : 'regular'

/**
 * Writes `text` (any script) at x, y within `width`; returns the height used. Text that fits on one
 * line (most cells) is placed run by run without pdfkit's line wrapper (the fast path, and the only
 * way mixed scripts align right or centre); longer text wraps, left-aligned.
 */
function write(doc: Doc, text: string, o: TextOpts): number {
  const f = loadFonts()
  const size = o.size ?? 9
  const runs = fontRuns(text || ' ')
  const useCjk = f.cjk !== null && runs.some(([, cjk]) => cjk)
  doc.fontSize(size)
  const align = o.align ?? 'left'
  const widths = runs.map(([run, cjk]) => doc.font(fontName(cjk, o.bold, useCjk)).widthOfString(run))
  const total = widths.reduce((a, b) => a + b, 0)
  if (total <= o.width) {
    let x = align === 'right' ? o.x + o.width - total : align === 'center' ? o.x + (o.width - total) / 2 : o.x
    runs.forEach(([run, cjk], i) => {
      doc.font(fontName(cjk, o.bold, useCjk)).text(run, x, o.y, { lineBreak: false })
      x += widths[i]
    })
    return lineHeight(doc, size)
  }
  const start = o.y
  runs.forEach(([run, cjk], i) => {
    doc.font(fontName(cjk, o.bold, useCjk))
    const opts = { width: o.width, align: runs.length > 1 ? 'left' : align, continued: i < runs.length - 1, lineGap: 1 }
    if (i === 0) doc.text(run, o.x, o.y, opts)
    else doc.text(run, opts)
  })
  return doc.y - start
}

/** One line's height in the Latin font at `size` (with the 1 pt line gap wrapped text uses). */
function lineHeight(doc: Doc, size: number): number {
  doc.font('regular').fontSize(size)
  return doc.currentLineHeight(true) + 1
}

/** Height `text` needs at `width` (measured in the Latin font; CJK glyphs are about as wide). */
function heightOf(doc: Doc, text: string, width: number, size = 9, bold = false): number {
  doc.font(bold ? 'bold' : 'regular').fontSize(size)
  if (doc.widthOfString(text || ' ') <= width) return lineHeight(doc, size)
  doc.font(bold ? 'bold' : 'regular').fontSize(size)
  return doc.heightOfString(text || ' ', { width, lineGap: 1 })
}

interface Column {
  label: string
  width: number
  align?: 'left' | 'right'
}

/**
 * One merchant document being laid out: the parties block, label/value lines, tables whose rows
 * wrap and break across pages (the table heading repeats), paragraphs; `finish` stamps the header
 * (merchant, title, subline) and "Page N of M" on every page and returns the PDF bytes.
 */
export class DocumentLayout {
  readonly doc: Doc
  private readonly done: Promise<Buffer>
  private y = 0
  readonly left = PAGE.margin
  readonly right = PAGE.width - PAGE.margin
  readonly width = this.right - this.left

  constructor(private readonly head: { merchant: string; title: string; subline: string; author: string }) {
    this.doc = new PDFDocument({ size: 'A4', margin: PAGE.margin, bufferPages: true, info: { Title: `${head.title} ${head.subline}`, Author: head.author } })
    const f = loadFonts()
    this.doc.registerFont('regular', f.regular as Buffer)
    this.doc.registerFont('bold', f.bold as Buffer)
    // A collection (.ttc) needs the face's name; a single font does not.
    if (f.cjk) this.doc.registerFont('cjk', f.cjk.data, f.cjk.file.endsWith('.ttc') ? 'NotoSansCJKjp-Regular' : undefined)
    if (f.cjkBold && f.cjkBold.file !== f.cjk?.file) this.doc.registerFont('cjk-bold', f.cjkBold.data, f.cjkBold.file.endsWith('.ttc') ? 'NotoSansCJKjp-Bold' : undefined)
    const chunks: Buffer[] = []
    this.done = new Promise<Buffer>((resolve, reject) => {
      this.doc.on('data', (c: Buffer) => chunks.push(c))
      this.doc.on('end', () => resolve(Buffer.concat(chunks)))
      this.doc.on('error', reject)
    })
    this.newPage()
  }

  private newPage(): void {
    if (this.y !== 0) this.doc.addPage()
    this.y = HEADER_BOTTOM + 10
  }

  private ensure(h: number): void {
    if (this.y + h > CONTENT_BOTTOM) this.newPage()
  }

  space(pt: number): void {
    this.y += pt
  }

  /** Sender on the left, recipient (name, address lines, extra lines) on the right. */
  parties(merchant: Merchant, customer: StatementDocument['customer']): void {
    const { doc, left, width } = this
    const half = width / 2 - 10
    let ly = this.y
    ly += write(doc, 'From', { x: left, y: ly, width: half, size: 8, bold: true })
    ly += write(doc, merchant.name, { x: left, y: ly, width: half, size: 11, bold: true })
    for (const line of [merchant.address, merchant.tax_id ? `Tax id: ${merchant.tax_id}` : null, merchant.email, merchant.phone]) {
      if (line) ly += write(doc, line, { x: left, y: ly, width: half })
    }
    let ry = this.y
    const rx = left + width / 2 + 10
    ry += write(doc, 'To', { x: rx, y: ry, width: half, size: 8, bold: true })
    ry += write(doc, customer.name, { x: rx, y: ry, width: half, size: 11, bold: true })
    for (const line of customer.address) ry += write(doc, line, { x: rx, y: ry, width: half })
    if (customer.tax_id) ry += write(doc, `Tax id: ${customer.tax_id}`, { x: rx, y: ry, width: half })
    ry += write(doc, `Customer: ${customer.id}`, { x: rx, y: ry, width: half, size: 8 })
    this.y = Math.max(ly, ry) + 14
  }

  /** Label / value lines (values right-aligned); `bold` rows stand out. */
  keyValues(rows: [string, string, boolean?][]): void {
    for (const [k, v, bold] of rows) {
      this.ensure(14)
      write(this.doc, k, { x: this.left, y: this.y, width: 250, bold })
      this.y += write(this.doc, v, { x: this.left + 250, y: this.y, width: 150, align: 'right', bold }) + 2
    }
    this.y += 12
  }

  /** A table: cells wrap within their column, a row's height is its tallest cell, the heading repeats on a new page. */
  table(heading: string, cols: Column[], rows: string[][], boldLast = false): void {
    const { doc, left, right, width } = this
    const head = () => {
      this.y += write(doc, heading, { x: left, y: this.y, width, size: 11, bold: true }) + 4
      let x = left
      const h = Math.max(...cols.map((c) => heightOf(doc, c.label, c.width - 6, 9, true)))
      for (const c of cols) {
        write(doc, c.label, { x, y: this.y, width: c.width - 6, bold: true, align: c.align })
        x += c.width
      }
      this.y += h + 3
      doc.moveTo(left, this.y - 2).lineTo(right, this.y - 2).lineWidth(0.5).strokeColor('#888888').stroke()
    }
    this.ensure(60)
    head()
    rows.forEach((cells, ri) => {
      const bold = boldLast && ri === rows.length - 1
      const h = Math.max(...cells.map((c, i) => heightOf(doc, c, cols[i].width - 6, 9, bold))) + 3
      if (this.y + h > CONTENT_BOTTOM) {
        this.newPage()
        head()
      }
      let x = left
      cells.forEach((c, i) => {
        write(doc, c, { x, y: this.y, width: cols[i].width - 6, bold, align: cols[i].align })
        x += cols[i].width
      })
      this.y += h
    })
    this.y += 14
  }

  /** A heading (optional) and wrapped text, one paragraph per line of `text`, kept on one page when it fits. */
  paragraph(heading: string | null, text: string): void {
    const { doc, left, width } = this
    for (const [i, para] of text.split('\n').entries()) {
      const h = heightOf(doc, para, width) + (i === 0 && heading ? 20 : 0)
      this.ensure(h)
      if (i === 0 && heading) this.y += write(doc, heading, { x: left, y: this.y, width, size: 11, bold: true }) + 4
      this.y += para.trim() ? write(doc, para, { x: left, y: this.y, width }) : 6
    }
    this.y += 10
  }

  /** Header and "page N of M" on every page, now that the page count is known; the PDF bytes. */
  finish(): Promise<Buffer> {
    const { doc, left, right, width } = this
    const range = doc.bufferedPageRange()
    for (let i = range.start; i < range.start + range.count; i++) {
      doc.switchToPage(i)
      const margins = doc.page.margins
      doc.page.margins = { ...margins, top: 0, bottom: 0 }
      write(doc, this.head.merchant, { x: left, y: 40, width: width / 2 - 10, size: 10, bold: true })
      write(doc, this.head.title, { x: left + width / 2, y: 40, width: width / 2, size: 14, bold: true, align: 'right' })
      write(doc, this.head.subline, { x: left + width / 2 - 100, y: 60, width: width / 2 + 100, size: 8, align: 'right' })
      doc.moveTo(left, HEADER_BOTTOM - 12).lineTo(right, HEADER_BOTTOM - 12).lineWidth(0.75).strokeColor('#333333').stroke()
      write(doc, `Page ${i - range.start + 1} of ${range.count}`, { x: left, y: FOOTER_TOP, width, size: 8, align: 'center' })
      doc.page.margins = margins
    }
    doc.end()
    return this.done
  }
}

function openItemsTable(layout: DocumentLayout, heading: string, items: OpenItem[], money: (n: number) => string, cur: string): void {
  layout.table(
    heading,
    [
      { label: 'Invoice', width: 120 },
      { label: 'Issued', width: 70 },
      { label: 'Due', width: 70 },
      { label: 'Days overdue', width: 70, align: 'right' },
      { label: `Total ${cur}`, width: 80, align: 'right' },
      { label: `Open ${cur}`, width: layout.width - 410, align: 'right' },
    ],
    items.length
      ? items.map((i) => [i.number, i.issue_date, i.due_date, i.days_overdue ? String(i.days_overdue) : '-', money(i.total), money(i.outstanding)])
      : [['No open invoices', '', '', '', '', '']],
  )
}

/** Renders a statement document to PDF bytes. */
export function statementPdf(d: StatementDocument): Promise<Buffer> {
  const s = d.statement
  const cur = s.currency.toUpperCase()
  const money = (n: number) => formatAmount(n, s.currency)
  const layout = new DocumentLayout({ merchant: d.merchant.name, title: 'Statement of account', subline: `${d.customer.name} · ${s.from} to ${s.to}`, author: d.merchant.name })
  layout.parties(d.merchant, d.customer)
  layout.keyValues([
    ['Period', `${s.from} to ${s.to}`],
    ['Opening balance', `${money(s.opening_balance)} ${cur}`],
    ['Charges', `${money(s.total_debits)} ${cur}`],
    ['Payments and credits', `${money(s.total_credits)} ${cur}`],
    ['Closing balance (amount due)', `${money(s.closing_balance)} ${cur}`, true],
  ])
  layout.table(
    'Transactions',
    [
      { label: 'Date', width: 64 },
      { label: 'Type', width: 96 },
      { label: 'Reference', width: 155 },
      { label: `Amount ${cur}`, width: 90, align: 'right' },
      { label: `Balance ${cur}`, width: layout.width - 405, align: 'right' },
    ],
    [
      [s.from, 'Opening balance', '', '', money(s.opening_balance)],
      ...s.transactions.map((t) => [t.posting_date, t.type.replace(/_/g, ' '), t.reference ?? '', money(t.amount), money(t.running_balance)]),
      [s.to, 'Closing balance', '', '', money(s.closing_balance)],
    ],
    true,
  )
  openItemsTable(layout, `Open invoices as of ${d.as_of}`, d.open_items, money, cur)
  const b = d.aging
  const agingTotal = b.current + b['1_30'] + b['31_60'] + b['61_90'] + b['90_plus']
  layout.table(
    'Aging summary',
    ['Current', '1–30 days', '31–60 days', '61–90 days', 'Over 90 days', 'Total'].map((label) => ({ label, width: layout.width / 6, align: 'right' as const })),
    [[b.current, b['1_30'], b['31_60'], b['61_90'], b['90_plus'], agingTotal].map(money)],
  )
  layout.paragraph('Payment instructions', paymentInstructions(d.merchant, d.customer.id, `${money(Math.max(s.closing_balance, 0))} ${cur}`, 'statement'))
  return layout.finish()
}

export function paymentInstructions(merchant: Merchant, customerId: string, amountDue: string, what: string): string {
  return (
    merchant.payment_instructions ??
    `Please pay the amount due of ${amountDue} to ${merchant.name}, quoting your customer number ${customerId} and the invoice numbers above. If you have already paid, please disregard this ${what}; for questions about your account, contact us${merchant.email ? ` at ${merchant.email}` : ''}.`
  )
}

// ---- dunning letters -------------------------------------------------------------------------------

export interface DunningLetter {
  merchant: Merchant
  customer: StatementDocument['customer']
  currency: string
  /** 1–3 for overdue warnings; 4 for a suspension notice. */
  level: number
  date: string
  /** The notification's rendered text (subject and body), the letter's words. */
  subject: string
  body: string
  overdue: OpenItem[]
}

export const DUNNING_TITLES: Record<number, string> = { 1: 'Payment reminder', 2: 'Second reminder', 3: 'Final notice', 4: 'Notice of suspension' }

/** An overdue warning (or suspension notice) as a letter: the text sent, the overdue invoices, the total, how to pay. */
export function dunningLetterPdf(l: DunningLetter): Promise<Buffer> {
  const cur = l.currency.toUpperCase()
  const money = (n: number) => formatAmount(n, l.currency)
  const title = DUNNING_TITLES[l.level] ?? 'Payment reminder'
  const total = l.overdue.reduce((s, i) => s + i.outstanding, 0)
  const layout = new DocumentLayout({ merchant: l.merchant.name, title, subline: `${l.customer.name} · ${l.date}`, author: l.merchant.name })
  layout.parties(l.merchant, l.customer)
  layout.keyValues([
    ['Date', l.date],
    ['Overdue invoices', String(l.overdue.length)],
    ['Amount overdue', `${money(total)} ${cur}`, true],
  ])
  layout.paragraph(l.subject, l.body)
  openItemsTable(layout, 'Overdue invoices', l.overdue, money, cur)
  layout.paragraph('Payment instructions', paymentInstructions(l.merchant, l.customer.id, `${money(total)} ${cur}`, 'letter'))
  return layout.finish()
}

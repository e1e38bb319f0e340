/**
 * Accounting dates (`YYYY-MM-DD`) in a tenant's timezone. The one place "today" is computed: the
 * ledger, the control plane and the jobs all ask `accountingToday`.
 */

const formatters = new Map<string, Intl.DateTimeFormat>()

/** The calendar date now in `timezone` (IANA name). */
export function todayIn(timezone: string): string {
  let f = formatters.get(timezone)
  if (!f) formatters.set(timezone, (f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })))
  return f.format(new Date())
}

/** A tenant's accounting today: its test clock in sandbox mode, else the date in its timezone. */
export function accountingToday(tenant: { timezone: string; sandbox: boolean; test_clock_date: string | null }): string {
  return tenant.sandbox && tenant.test_clock_date ? tenant.test_clock_date : todayIn(tenant.timezone)
}

/** `date` moved by `days` calendar days. */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`)
  d.setUTCDate(d.getUTCDate() + days)
  return d.toISOString().slice(0, 10)
}

/**
 * The accepted range of accounting dates. Postgres and JavaScript dates stop at 9999-12-31 (JSON
 * answers would overflow too): the last day leaves room for the longest payment terms (3,650
 * days) to add a due date. Dates outside are refused as input (400), never computed with.
 */
export const MIN_ACCOUNTING_DATE = '1900-01-01'
export const MAX_ACCOUNTING_DATE = '9989-12-31'

const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/

/** A real calendar day `YYYY-MM-DD` within [MIN_ACCOUNTING_DATE, MAX_ACCOUNTING_DATE]. */
export function isAccountingDate(s: string): boolean {
  const m = DATE_RE.exec(s)
  if (!m) return false
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  if (mo < 1 || mo > 12 || d < 1) return false
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1]
  return d <= days && s >= MIN_ACCOUNTING_DATE && s <= MAX_ACCOUNTING_DATE
}

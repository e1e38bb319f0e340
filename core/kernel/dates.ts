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

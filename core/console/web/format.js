// Money is integer minor units plus a currency: shown with Intl and the currency's minor digits.
const locale = navigator.languages?.[0] ?? navigator.language ?? 'en'
const formats = new Map()

function currencyFormat(currency) {
  const code = String(currency || 'usd').toUpperCase()
  let f = formats.get(code)
  if (!f) {
    f = new Intl.NumberFormat(locale, { style: 'currency', currency: code })
    formats.set(code, f)
  }
  return f
}

export function minorDigits(currency) {
  return currencyFormat(currency).resolvedOptions().maximumFractionDigits
}

export function money(amount, currency) {
  if (amount === undefined || amount === null || amount === '') return '—'
  const f = currencyFormat(currency)
  return f.format(Number(amount) / 10 ** minorDigits(currency))
}

/** Major units typed by a person (e.g. "12.50") to integer minor units, or null. */
export function toMinor(text, currency) {
  const s = String(text).trim()
  if (!/^\d+(\.\d+)?$/.test(s)) return null
  const digits = minorDigits(currency)
  const [whole, frac = ''] = s.split('.')
  if (frac.length > digits) return null
  return Number(whole) * 10 ** digits + Number(frac.padEnd(digits, '0') || 0)
}

const dateFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium' })
const dateTimeFormat = new Intl.DateTimeFormat(locale, { dateStyle: 'medium', timeStyle: 'short' })

/** An accounting date (YYYY-MM-DD, no time zone) or a timestamp. */
export function date(s) {
  if (!s) return '—'
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s)
  return dateFormat.format(m ? new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : new Date(s))
}

export function dateTime(s) {
  return s ? dateTimeFormat.format(new Date(s)) : '—'
}

const percentFormat = new Intl.NumberFormat(locale, { style: 'percent', maximumFractionDigits: 1 })
export function percent(ratio) {
  return ratio === null || ratio === undefined || Number.isNaN(ratio) ? '—' : percentFormat.format(ratio)
}

const numberFormat = new Intl.NumberFormat(locale, { maximumFractionDigits: 1 })
export function number(n) {
  return n === null || n === undefined || Number.isNaN(n) ? '—' : numberFormat.format(n)
}

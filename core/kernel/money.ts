import { AppError } from './errors'

const CURRENCIES = new Set(Intl.supportedValuesOf('currency').map((c) => c.toLowerCase()))

export function isCurrency(code: string): boolean {
  return CURRENCIES.has(code)
}

export function assertCurrency(code: string, param = 'currency'): string {
  const c = code.toLowerCase()
  if (!/^[a-z]{3}$/.test(c) || !CURRENCIES.has(c)) throw new AppError('invalid_currency', `Unknown currency '${code}'.`, { param })
  return c
}

/** Minor-unit exponent per ISO-4217 (JPY 0, USD 2, KWD 3), from the runtime's CLDR data. */
export function currencyExponent(code: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency: code.toUpperCase() }).resolvedOptions().maximumFractionDigits ?? 2
}

/**
 * The range money may take, in minor units, so that no amount and no balance can leave the range a
 * JSON number carries exactly (2^53 ≈ 9.007 × 10^15):
 * - one amount (a request field, an invoice line, a document's total): at most MAX_AMOUNT, 10^13
 *   (100 billion in a 2-decimal currency, 10 trillion yen);
 * - one customer's pending or advance balance: at most MAX_BALANCE, 10^14 (`balance_limit_exceeded`);
 * - sums over many customers (trial balance, aging totals) are computed exactly (bigint in SQL,
 *   BigInt in code) and sent as a JSON number while exact, else as a decimal string.
 */
export const MAX_AMOUNT = 10_000_000_000_000
export const MAX_BALANCE = 100_000_000_000_000

/** JSON schema for an amount in minor units. */
export const amountSchema = { type: 'integer', minimum: 0, maximum: MAX_AMOUNT } as const
export const signedAmountSchema = { type: 'integer', minimum: -MAX_AMOUNT, maximum: MAX_AMOUNT } as const
/** JSON schema of a sum over many customers: a number while exact, else a decimal string. */
export const aggregateAmountSchema = {
  type: ['integer', 'string'],
  description: 'Minor units: a JSON number while it is exact (|n| ≤ 2^53 − 1), else the same integer as a decimal string.',
} as const

/** An exact sum for JSON: a number while it is a safe integer, else its decimal string. */
export function exactAmount(n: bigint): number | string {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString()
}
export const currencySchema = { type: 'string', pattern: '^[a-zA-Z]{3}$', examples: ['EUR'] } as const
export const dateSchema = { type: 'string', format: 'date' } as const

/** Parses a non-negative decimal string ("55.0", "0.2") into an exact scaled integer. */
export function parseDecimal(value: string | number, param: string, maxScale = 12): { units: bigint; scale: number } {
  const s = typeof value === 'number' ? String(value) : value
  const m = /^(\d{1,15})(?:\.(\d{1,12}))?$/.exec(s)
  if (!m || (m[2]?.length ?? 0) > maxScale) throw new AppError('validation_failed', `'${param}' must be a non-negative decimal string such as "1.25".`, { param })
  const frac = m[2] ?? ''
  return { units: BigInt(m[1] + frac), scale: frac.length }
}

/** round_half_up(amount × decimal), exact, for integer minor-unit amounts (half away from zero). */
export function mulRound(amount: number, decimal: string | number, param = 'rate'): number {
  const { units, scale } = parseDecimal(decimal, param)
  const product = BigInt(amount) * units
  const div = 10n ** BigInt(scale)
  const neg = product < 0n
  const abs = neg ? -product : product
  let q = abs / div
  if ((abs % div) * 2n >= div) q += 1n
  const result = Number(neg ? -q : q)
  if (!Number.isSafeInteger(result)) throw new AppError('invalid_amount', 'The amount is too large.', { param })
  return result
}

/** Canonical decimal string (trailing zeros trimmed) for storage and display. */
/** `amount` minor units of `currency` in base minor units at `rate` (round half up); the base currency converts as itself. */
export function toBaseAmount(amount: number, currency: string, baseCurrency: string, rate: string | number): number {
  return currency === baseCurrency ? amount : mulRound(amount, rate, 'exchange_rate')
}

export function normalizeDecimal(value: string | number, param: string): string {
  const { units, scale } = parseDecimal(value, param)
  let s = units.toString().padStart(scale + 1, '0')
  if (scale > 0) s = `${s.slice(0, -scale)}.${s.slice(-scale)}`.replace(/\.?0+$/, '')
  return s
}

/** Decimal schema accepted for rates: a string like "1.25" (numbers are accepted and read exactly as written). */
export const decimalSchema = { type: ['string', 'number'], pattern: '^\\d{1,15}(\\.\\d{1,12})?$', minimum: 0, examples: ['0.19'] } as const

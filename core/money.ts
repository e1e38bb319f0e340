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

/** JSON schema for an amount in minor units. */
export const amountSchema = { type: 'integer', minimum: 0, maximum: 900719925474099 } as const
export const signedAmountSchema = { type: 'integer', minimum: -900719925474099, maximum: 900719925474099 } as const
export const currencySchema = { type: 'string', pattern: '^[a-zA-Z]{3}$' } as const
export const dateSchema = { type: 'string', format: 'date' } as const

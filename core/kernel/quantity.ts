import { AppError } from './errors'
import { mulRound } from './money'

/**
 * Line quantities: an integer, or a decimal with up to 3 places (goods sold by weight). Kept
 * exactly as integer thousandths (`milli`) in code and as numeric(12,3) in the database; amounts
 * stay integer minor units: `net = round_half_up(quantity × unit_amount)`, computed in BigInt.
 * Responses give a whole quantity as an integer (as before decimals existed) and any other as a
 * decimal string without trailing zeros ("1.5", "0.125").
 */

export const QUANTITY_SCALE = 1000
export const MAX_QUANTITY = 1_000_000

const DECIMAL = /^(\d{1,7})(?:\.(\d{1,3}))?$/

export const quantitySchema = {
  anyOf: [
    { type: 'integer', minimum: 1, maximum: MAX_QUANTITY },
    { type: 'string', pattern: '^[0-9]{1,7}(\\.[0-9]{1,3})?$' },
  ],
  description: `An integer, or a decimal string with up to 3 places ("1.250"); more than 0, at most ${MAX_QUANTITY}.`,
} as const

/** A quantity as responses show it: an integer when whole, else a decimal string. */
export const quantityOutputSchema = { type: ['integer', 'string'], description: 'An integer when whole, else a decimal string ("1.5").' } as const

/** Thousandths of a quantity given in a request (integer or decimal string), or 400. */
export function parseQuantity(value: number | string, param: string): number {
  let milli: number | null = null
  if (typeof value === 'number') milli = Number.isSafeInteger(value) ? value * QUANTITY_SCALE : null
  else {
    const m = DECIMAL.exec(value)
    if (m) milli = Number(m[1]) * QUANTITY_SCALE + Number((m[2] ?? '').padEnd(3, '0'))
  }
  if (milli === null || milli <= 0 || milli > MAX_QUANTITY * QUANTITY_SCALE) {
    throw new AppError('validation_failed', `A quantity is more than 0 and at most ${MAX_QUANTITY}, with up to 3 decimal places.`, { param })
  }
  return milli
}

/** Thousandths of a quantity read from the database (numeric(12,3) arrives as a string). */
export function quantityFromDb(value: string | number): number {
  if (typeof value === 'number') return value * QUANTITY_SCALE
  const m = /^(-?)(\d+)(?:\.(\d{1,3}))?$/.exec(value)
  if (!m) throw new Error(`not a quantity: ${value}`)
  const milli = Number(m[2]) * QUANTITY_SCALE + Number((m[3] ?? '').padEnd(3, '0'))
  return m[1] ? -milli : milli
}

/** Thousandths as the database's numeric(12,3) text. */
export function quantityToDb(milli: number): string {
  const sign = milli < 0 ? '-' : ''
  const abs = Math.abs(milli)
  return `${sign}${Math.floor(abs / QUANTITY_SCALE)}.${String(abs % QUANTITY_SCALE).padStart(3, '0')}`
}

/** Thousandths as responses show them (see the module comment). */
export function quantityOut(milli: number): number | string {
  if (milli % QUANTITY_SCALE === 0) return milli / QUANTITY_SCALE
  return quantityToDb(milli).replace(/0+$/, '')
}

/** round_half_up(quantity × unitAmount) in minor units, exactly (BigInt, in mulRound). */
export function quantityTimes(milli: number, unitAmount: number, param = 'quantity'): number {
  return mulRound(unitAmount, quantityToDb(milli), param)
}

/** Aging buckets by days past due (dpd = as_of − due_date): pure logic, unit-tested. */

export const AGING_BUCKETS = ['current', '1_30', '31_60', '61_90', '90_plus'] as const
export type AgingBucket = (typeof AGING_BUCKETS)[number]
export type Buckets = Record<AgingBucket, number>

export function agingBucket(dpd: number): AgingBucket {
  if (!Number.isInteger(dpd)) throw new Error(`dpd must be an integer number of days, got ${dpd}`)
  if (dpd <= 0) return 'current'
  if (dpd <= 30) return '1_30'
  if (dpd <= 60) return '31_60'
  if (dpd <= 90) return '61_90'
  return '90_plus'
}

export function emptyBuckets(): Buckets {
  return { current: 0, '1_30': 0, '31_60': 0, '61_90': 0, '90_plus': 0 }
}

/** Whole days from `from` to `to` (YYYY-MM-DD), negative when `to` is earlier. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000)
}

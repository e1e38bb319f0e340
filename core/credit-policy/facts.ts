/**
 * The fact object rules see, one per customer (API.md "Credit policy"). Pure declarations: the
 * set-based computation lives in core/reports/credit-facts.ts. Money facts are integers in base
 * minor units; disputed amounts never count as overdue.
 */

export interface AgingFacts {
  current: number
  d1_30: number
  d31_60: number
  d61_90: number
  d90_plus: number
}

export interface Facts {
  today: string
  status: string
  tier: string | null
  pending_balance: number
  advance_balance: number
  current_balance: number
  credit_limit: number | null
  temporary_credit_limit: number | null
  temporary_limit_active: boolean
  effective_credit_limit: number | null
  exposure: number
  /** exposure / effective_credit_limit (null without a limit), 4 decimals. */
  utilization: number | null
  aging: AgingFacts
  overdue_amount: number
  overdue_invoice_count: number
  max_days_overdue: number
  disputed_amount: number
  grace_period_days: number
  in_grace_period: boolean
  paid_since_overdue: number
  days_since_last_payment: number | null
  has_promise_to_pay: boolean
  promise_to_pay_date: string | null
  suspension_override: boolean
  credit_hold: boolean
  score: number
  grade: string
  metadata: Record<string, unknown>
  /** Facts a credit-policy plugin adds (`facts?(customer, base)`). */
  plugin?: Record<string, unknown>
}

/** Fact paths a rule may name with `var` (plus any `metadata.*` and `plugin.*`). */
export const FACT_NAMES: readonly string[] = [
  'today', 'status', 'tier', 'pending_balance', 'advance_balance', 'current_balance', 'credit_limit',
  'temporary_credit_limit', 'temporary_limit_active', 'effective_credit_limit', 'exposure', 'utilization',
  'aging', 'aging.current', 'aging.d1_30', 'aging.d31_60', 'aging.d61_90', 'aging.d90_plus',
  'overdue_amount', 'overdue_invoice_count', 'max_days_overdue', 'disputed_amount', 'grace_period_days',
  'in_grace_period', 'paid_since_overdue', 'days_since_last_payment', 'has_promise_to_pay',
  'promise_to_pay_date', 'suspension_override', 'credit_hold', 'score', 'grade', 'metadata',
]

export function isKnownFact(path: string): boolean {
  return FACT_NAMES.includes(path) || /^(metadata|plugin)\.[A-Za-z0-9_.-]{1,64}$/.test(path)
}

/** A customer is current (its episode ends) when nothing is overdue. */
export function isCurrent(f: Pick<Facts, 'overdue_amount'>): boolean {
  return f.overdue_amount <= 0
}

/**
 * The credit score: a documented, deterministic model (README "Credit score"). Pure: inputs are
 * the set-based history figures of core/reports/credit-facts.ts. Six factors, weights adding to 100;
 * each gives `points` = weight × a 0..1 rating; score = Σ points (rounded), grade by score.
 */

export interface ScoreInputs {
  /** Base amount settled (allocations) on or before the due date, and in all. */
  settled_on_time: number
  settled_total: number
  /** Σ settled amount × days late (late settlements) + Σ overdue amount × days overdue (open items). */
  amount_days_late: number
  /** The amounts those days are weighted by: settled_total + overdue amount. */
  amount_weighing: number
  utilization: number | null
  account_age_days: number
  /** Open disputes and chargebacks ever. */
  disputes: number
  chargebacks: number
  write_offs: number
}

export interface Factor {
  name: string
  value: number | null
  weight: number
  points: number
}

export const SCORE_WEIGHTS = {
  on_time_ratio: 30,
  avg_days_late: 20,
  utilization: 20,
  account_age: 10,
  disputes_and_chargebacks: 10,
  write_offs: 10,
} as const

const clamp01 = (x: number) => Math.min(1, Math.max(0, x))
const round2 = (x: number) => Math.round(x * 100) / 100

export function gradeOf(score: number): 'A' | 'B' | 'C' | 'D' | 'E' {
  if (score >= 80) return 'A'
  if (score >= 65) return 'B'
  if (score >= 50) return 'C'
  if (score >= 35) return 'D'
  return 'E'
}

export function creditScore(i: ScoreInputs): { score: number; grade: 'A' | 'B' | 'C' | 'D' | 'E'; factors: Factor[] } {
  const onTime = i.settled_total > 0 ? i.settled_on_time / i.settled_total : null
  const daysLate = i.amount_weighing > 0 ? i.amount_days_late / i.amount_weighing : 0
  const ratings: [keyof typeof SCORE_WEIGHTS, number | null, number][] = [
    // No history yet: a neutral 0.75.
    ['on_time_ratio', onTime === null ? null : round2(onTime), onTime ?? 0.75],
    // 0 days late: full points; 60 days or more on average: none.
    ['avg_days_late', round2(daysLate), clamp01(1 - daysLate / 60)],
    // No limit: a neutral 0.75; else 1 − utilization (over the limit: none).
    ['utilization', i.utilization, i.utilization === null ? 0.75 : clamp01(1 - i.utilization)],
    // A year or older: full points.
    ['account_age', i.account_age_days, clamp01(i.account_age_days / 365)],
    // Each open dispute or chargeback costs a third.
    ['disputes_and_chargebacks', i.disputes + i.chargebacks, clamp01(1 - (i.disputes + i.chargebacks) / 3)],
    // Each write-off costs half.
    ['write_offs', i.write_offs, clamp01(1 - i.write_offs / 2)],
  ]
  const factors = ratings.map(([name, value, rating]) => ({ name, value, weight: SCORE_WEIGHTS[name], points: round2(SCORE_WEIGHTS[name] * rating) }))
  const score = Math.max(0, Math.min(100, Math.round(factors.reduce((s, f) => s + f.points, 0))))
  return { score, grade: gradeOf(score), factors }
}

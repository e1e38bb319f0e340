import type { CreditPolicyPlugin, CreditPolicyRule } from '../../core/kernel/plugins/contract'

/**
 * The default credit policy: a grace period, warning levels by days overdue, suspension after N
 * days overdue (not while a suspension override or a promise to pay stands), reactivation once
 * nothing is overdue beyond grace, and an optional credit hold above a utilization.
 */
interface Config {
  grace_period_days?: number
  warnings?: { days_overdue: number; level: number; template?: string }[]
  suspend_after_days?: number | null
  reactivate_when_current?: boolean
  block_credit_sales_over_utilization?: number | null
}

const DEFAULT_WARNINGS = [
  { days_overdue: 7, level: 1, template: 'overdue_warning_1' },
  { days_overdue: 21, level: 2, template: 'overdue_warning_2' },
  { days_overdue: 45, level: 3, template: 'overdue_warning_3' },
]

const beyondGrace = { '>': [{ var: 'max_days_overdue' }, { var: 'grace_period_days' }] }

export function standardRules(config: Config): CreditPolicyRule[] {
  const rules: CreditPolicyRule[] = []
  for (const w of config.warnings ?? DEFAULT_WARNINGS) {
    rules.push({
      name: `warning_level_${w.level}`,
      description: `Warn (level ${w.level}) once ${w.days_overdue} days overdue, beyond grace.`,
      when: { and: [beyondGrace, { '>=': [{ var: 'max_days_overdue' }, w.days_overdue] }] },
      actions: [{ type: 'warn', level: w.level, ...(w.template ? { template: w.template } : {}) }],
    })
  }
  const suspendAfter = config.suspend_after_days === undefined ? 60 : config.suspend_after_days
  if (suspendAfter !== null) {
    rules.push({
      name: 'suspend_overdue',
      description: `Suspend once ${suspendAfter} days overdue beyond grace, unless a suspension override or a promise to pay stands.`,
      when: { and: [beyondGrace, { '>=': [{ var: 'max_days_overdue' }, suspendAfter] }, { '!': { var: 'suspension_override' } }, { '!': { var: 'has_promise_to_pay' } }] },
      actions: [{ type: 'suspend', reason: `overdue ${suspendAfter}+ days` }, { type: 'notify', template: 'suspension_notice' }],
    })
  }
  if (config.reactivate_when_current !== false) {
    rules.push({
      name: 'reactivate_when_current',
      description: 'Reactivate once nothing is overdue beyond grace.',
      when: { and: [{ '==': [{ var: 'status' }, 'suspended'] }, { '<=': [{ var: 'max_days_overdue' }, { var: 'grace_period_days' }] }] },
      actions: [{ type: 'reactivate' }, { type: 'notify', template: 'reactivation_notice' }],
    })
  }
  const over = config.block_credit_sales_over_utilization
  if (over !== undefined && over !== null) {
    rules.push({
      name: 'credit_hold_over_utilization',
      description: `Credit hold above ${over} utilization.`,
      when: { '>': [{ var: 'utilization' }, over] },
      actions: [{ type: 'block_credit_sales' }],
    })
    rules.push({
      name: 'release_credit_hold',
      description: `Release the hold at or below ${over} utilization.`,
      when: { and: [{ '!==': [{ var: 'utilization' }, null] }, { '<=': [{ var: 'utilization' }, over] }] },
      actions: [{ type: 'unblock_credit_sales' }],
    })
  }
  return rules
}

export const creditPolicy: CreditPolicyPlugin<Config> = {
  rules: standardRules,
  gracePeriodDays: (config) => config.grace_period_days ?? 5,
}

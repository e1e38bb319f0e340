import type { CreditPolicyPlugin } from '../../../core/kernel/plugins/contract'

/** A partner credit policy for the tests: suspend as soon as anything is overdue, no grace. */
export const creditPolicy: CreditPolicyPlugin = {
  rules: () => [{ name: 'suspend_any_overdue', when: { '>': [{ var: 'overdue_amount' }, 0] }, actions: [{ type: 'suspend', reason: 'anything overdue' }] }],
  gracePeriodDays: () => 0,
}

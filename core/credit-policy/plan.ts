import { isCurrent, type Facts } from './facts'
import type { Action, CustomerOutcome } from './evaluate'
import type { EpisodeState } from './model'

/**
 * From a customer's matched actions to what actually happens (pure; the sweep, the per-customer
 * evaluation and the dry run share it). An action applies once per episode — an episode lasts until
 * the customer is current again (nothing overdue) — and only when it changes something:
 * suspend an active customer (never while a suspension override stands), reactivate a customer the
 * policy suspended, put on hold one not on hold, release a hold the policy set; warnings and
 * notices always record. A manual suspension or hold is left to people.
 */

export type PlannedAction = Action & { rule: string }

export interface CustomerPlan {
  customer: string
  actions: PlannedAction[]
  state: EpisodeState
  status: string
  credit_hold: boolean
}

export function actionKey(a: Action): string {
  if (a.type === 'warn') return `warn:${a.level}`
  if (a.type === 'notify') return `notify:${a.template}`
  return a.type
}

export function planCustomer(facts: Facts, outcome: CustomerOutcome, before: EpisodeState): CustomerPlan {
  const state: EpisodeState = { ...before, applied: [...before.applied] }
  let status = facts.status
  let hold = facts.credit_hold
  const current = isCurrent(facts)
  if (!current && !state.in_episode) state.in_episode = true
  const actions: PlannedAction[] = []
  for (const a of outcome.actions) {
    const key = actionKey(a)
    if (state.applied.includes(key)) continue
    let applies = false
    switch (a.type) {
      case 'suspend':
        applies = status === 'active' && !facts.suspension_override
        if (applies) (status = 'suspended'), (state.suspended_by_policy = true)
        break
      case 'reactivate':
        applies = status === 'suspended' && state.suspended_by_policy
        if (applies) (status = 'active'), (state.suspended_by_policy = false)
        break
      case 'block_credit_sales':
        applies = !hold
        if (applies) (hold = true), (state.blocked_by_policy = true)
        break
      case 'unblock_credit_sales':
        applies = hold && state.blocked_by_policy
        if (applies) (hold = false), (state.blocked_by_policy = false)
        break
      default:
        applies = true
    }
    if (!applies) continue
    state.applied.push(key)
    actions.push(a)
  }
  // The episode ends when the customer is current again: its actions may happen again next time.
  if (current && state.in_episode) {
    state.in_episode = false
    state.applied = []
    state.episode += 1
  }
  return { customer: outcome.customer, actions, state, status, credit_hold: hold }
}

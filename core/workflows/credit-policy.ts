import type { Trx } from '../kernel/db/knex'
import { systemContext, type RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { builtInAccess } from '../kernel/permissions'
import { ledgerContext } from '../ledger/engine'
import { recordAudit, type AuditEntry } from '../audit/service'
import { emitEvents, type OutboxEvent } from '../outbox/outbox'
import { assertIfMatch, customerIdsPage, getCustomer, setPolicyFlags } from '../customers/service'
import { computeFacts, type CustomerFacts } from '../reports/credit-facts'
import type { Facts } from '../credit-policy/facts'
import { validateRules, type Rule, type ActionType } from '../credit-policy/evaluate'
import { runRules } from '../credit-policy/run-rules'
import { planCustomer, type CustomerPlan } from '../credit-policy/plan'
import {
  currentPolicy,
  insertVersion,
  lockPolicy,
  lockStates,
  markOverdueInvoices,
  pluginFacts,
  queueNotifications,
  saveStates,
  getVersion,
  type EpisodeState,
  type Policy,
} from '../credit-policy/model'

/**
 * Workflow: run the credit policy (ARCHITECTURE §7). Lock the customers' episode states (id order)
 * → facts, set-based → evaluate the rules (one pure call, see run-rules.ts) → plan each customer's
 * actions (once per episode) → one write per table: customer flags, states, notifications,
 * overdue markers; audit (actor `system:credit-policy`, rule, version) and events. The sweep runs it
 * per chunk of customers, the event consumer for the customers a change touched, the dry run
 * without any write.
 */

export const POLICY_ACTOR = 'system:credit-policy'
/** Customers per sweep transaction. */
export const SWEEP_CHUNK = 5000

export function policyContext(tenantId: string, requestId: string): RequestContext {
  return { ...systemContext(tenantId, builtInAccess('admin'), requestId), role: POLICY_ACTOR }
}

export interface ApplyResult {
  /** What happened, per customer with at least one action. */
  applied: { customer: string; actions: CustomerPlan['actions'] }[]
  evaluated: number
  actions_taken: number
  rules_failed: number
  counts: Partial<Record<ActionType, number>>
}

const emptyState = (customer: string): EpisodeState => ({ customer_id: customer, episode: 0, in_episode: false, applied: [], suspended_by_policy: false, blocked_by_policy: false })

async function evaluate(trx: Trx, ctx: RequestContext, policy: Pick<Policy, 'rules' | 'grace_period_days'>, asOf: string, ids: string[] | null, states: Map<string, EpisodeState>) {
  const facts = await computeFacts(trx, ctx.tenantId, asOf, ids, policy.grace_period_days)
  const extra = await pluginFacts(trx, ctx)
  if (extra) {
    const added = await extra(facts.map((f) => ({ customer: f.customer, facts: f.facts })))
    facts.forEach((f, i) => (f.facts.plugin = added[i]))
  }
  const outcomes = await runRules({ rules: policy.rules, batch: facts.map((f) => ({ customer: f.customer, facts: f.facts })) })
  const plans = facts.map((f, i) => planCustomer(f.facts, outcomes[i], states.get(f.customer) ?? emptyState(f.customer)))
  return { facts, outcomes, plans }
}

function actionEvent(type: string, plan: CustomerPlan, a: CustomerPlan['actions'][number], policy: Policy, facts: Facts) {
  return {
    object: 'credit_policy_action',
    customer: plan.customer,
    action: a,
    rule: a.rule,
    policy_version: policy.version,
    policy_source: policy.source,
    status: plan.status,
    credit_hold: plan.credit_hold,
    ...(a.type === 'warn' ? { level: a.level } : {}),
    facts: { overdue_amount: facts.overdue_amount, max_days_overdue: facts.max_days_overdue, utilization: facts.utilization },
    type,
  }
}

const EVENT_OF: Partial<Record<ActionType, string>> = {
  warn: 'customer.credit_warning',
  suspend: 'customer.suspended',
  reactivate: 'customer.reactivated',
  block_credit_sales: 'customer.credit_hold_changed',
  unblock_credit_sales: 'customer.credit_hold_changed',
}

/**
 * Evaluates the policy for `customerIds` and applies what it decides, in the caller's transaction.
 * Also emits `invoice.overdue` once for each of their invoices that became overdue.
 */
export async function applyCreditPolicy(trx: Trx, ctx: RequestContext, customerIds: string[], policy?: Policy): Promise<ApplyResult> {
  const result: ApplyResult = { applied: [], evaluated: 0, actions_taken: 0, rules_failed: 0, counts: {} }
  if (!customerIds.length) return result
  policy ??= await currentPolicy(trx, ctx)
  const { today } = await ledgerContext(trx, ctx)
  const states = await lockStates(trx, ctx, customerIds)
  const { facts, outcomes, plans } = await evaluate(trx, ctx, policy, today, [...states.keys()], states)

  const events: OutboxEvent[] = []
  for (const inv of await markOverdueInvoices(trx, ctx, today, [...states.keys()])) {
    events.push({ ctx, type: 'invoice.overdue', object: { object: 'invoice', id: inv.id, number: inv.number, customer: inv.customer_id, currency: inv.currency, total: inv.total, outstanding: inv.outstanding, due_date: inv.due_date, overdue_on: today } })
  }
  const flags: { id: string; status: 'active' | 'suspended'; credit_hold: boolean }[] = []
  const notifications: Parameters<typeof queueNotifications>[2] = []
  const audits: AuditEntry[] = []
  plans.forEach((plan, i) => {
    const f = facts[i].facts
    result.evaluated++
    result.rules_failed += outcomes[i].failed.length
    if (!plan.actions.length) return
    result.applied.push({ customer: plan.customer, actions: plan.actions })
    if (plan.status !== f.status || plan.credit_hold !== f.credit_hold) flags.push({ id: plan.customer, status: plan.status as 'active' | 'suspended', credit_hold: plan.credit_hold })
    for (const a of plan.actions) {
      result.actions_taken++
      result.counts[a.type] = (result.counts[a.type] ?? 0) + 1
      const type = EVENT_OF[a.type]
      if (type) events.push({ ctx, type, object: actionEvent(type, plan, a, policy!, f) })
      if (a.type === 'warn' || a.type === 'notify') {
        const template = a.type === 'warn' ? (a.template ?? `overdue_warning_${Math.min(a.level, 3)}`) : a.template
        notifications.push({
          customer_id: plan.customer,
          template,
          channel: a.type === 'notify' ? a.channel : undefined,
          data: { rule: a.rule, policy_version: policy!.version, ...(a.type === 'warn' ? { level: a.level } : {}), overdue_amount: f.overdue_amount, max_days_overdue: f.max_days_overdue },
          source_ref: `${a.rule}:${plan.state.episode}`,
        })
      }
    }
    // One audit row per customer and evaluation: every action with the rule that asked for it.
    audits.push({
      action: 'credit_policy.applied',
      entity_type: 'customer',
      entity_id: plan.customer,
      before: { status: f.status, credit_hold: f.credit_hold },
      after: { status: plan.status, credit_hold: plan.credit_hold, actions: plan.actions, rules: [...new Set(plan.actions.map((a) => a.rule))], policy_version: policy!.version, policy_source: policy!.source },
      reason: `credit policy version ${policy!.version}: ${[...new Set(plan.actions.map((a) => a.rule))].join(', ')}`,
    })
  })
  for (const entry of audits) await recordAudit(trx, ctx, entry)
  await setPolicyFlags(trx, ctx, flags)
  await queueNotifications(trx, ctx, notifications)
  await saveStates(
    trx,
    ctx,
    plans.map((p, i) => ({ ...p.state, facts: facts[i].facts, score: facts[i].facts.score, grade: facts[i].facts.grade, factors: facts[i].factors, policy_version: policy!.version })),
  )
  await emitEvents(trx, events)
  return result
}

/** One chunk of a sweep: the next customers after `after` (null: done). */
export async function sweepChunk(trx: Trx, ctx: RequestContext, policy: Policy, after: string | null): Promise<{ last: string | null; result: ApplyResult }> {
  const ids = await customerIdsPage(trx, ctx, after, SWEEP_CHUNK)
  const result = await applyCreditPolicy(trx, ctx, ids, policy)
  return { last: ids.length === SWEEP_CHUNK ? ids[ids.length - 1] : null, result }
}

// ---- dry run --------------------------------------------------------------------------------------

export function assertValidRules(rules: unknown): asserts rules is Rule[] {
  const problem = validateRules(rules)
  if (problem) throw new AppError('invalid_rule', problem.message, { param: problem.param })
}

const SUMMARY_KEYS = ['suspend', 'reactivate', 'warn', 'notify', 'block_credit_sales', 'unblock_credit_sales'] as const

/** Evaluates a rule set (the saved one by default) over every customer or the listed ones; writes nothing. */
export async function dryRunCreditPolicy(trx: Trx, ctx: RequestContext, input: { rules?: unknown; as_of?: string; customers?: string[] }) {
  const saved = await currentPolicy(trx, ctx)
  if (input.rules !== undefined) assertValidRules(input.rules)
  const policy = input.rules !== undefined ? { ...saved, rules: input.rules as Rule[] } : saved
  const asOf = input.as_of ?? (await ledgerContext(trx, ctx)).today
  const ids = input.customers ? [...new Set(input.customers)] : null
  const { rows } = await trx.raw(
    `select customer_id, episode, in_episode, applied, suspended_by_policy, blocked_by_policy from credit_policy_states where tenant_id = ? ${ids ? 'and customer_id in (select unnest(?::text[]))' : ''}`,
    ids ? [ctx.tenantId, ids] : [ctx.tenantId],
  )
  const states = new Map<string, EpisodeState>((rows as EpisodeState[]).map((r) => [r.customer_id, r]))
  const { facts, outcomes, plans } = await evaluate(trx, ctx, policy, asOf, ids, states)
  const summary = Object.fromEntries([...SUMMARY_KEYS.map((k) => [k, 0]), ['unchanged', 0]]) as Record<(typeof SUMMARY_KEYS)[number] | 'unchanged', number>
  const changes: { customer: string; rules: string[]; actions: CustomerPlan['actions']; facts: Facts }[] = []
  let failed = 0
  plans.forEach((p, i) => {
    failed += outcomes[i].failed.length
    if (!p.actions.length) return void summary.unchanged++
    for (const a of p.actions) summary[a.type]++
    changes.push({ customer: p.customer, rules: [...new Set(p.actions.map((a) => a.rule))], actions: p.actions, facts: facts[i].facts })
  })
  return { object: 'credit_policy_dry_run' as const, as_of: asOf, policy_version: saved.version, evaluated: plans.length, rules_failed: failed, summary, changes }
}

// ---- saving rules ---------------------------------------------------------------------------------

/** PUT /v1/credit-policy: a new version of the tenant's rules (If-Match: the version read). */
export async function saveCreditPolicy(trx: Trx, ctx: RequestContext, rules: unknown, ifMatch: string | undefined): Promise<Policy> {
  assertValidRules(rules)
  const current = await lockPolicy(trx, ctx)
  assertIfMatch(ifMatch, current)
  const before = await currentPolicy(trx, ctx)
  const row = await insertVersion(trx, ctx, rules, null)
  await recordAudit(trx, ctx, { action: 'credit_policy.updated', entity_type: 'credit_policy', entity_id: row.id, before: { version: before.version, source: before.source }, after: { version: row.version, rules } })
  return currentPolicy(trx, ctx)
}

/** Restores an old version as a new one (versions are never rewritten). */
export async function restoreCreditPolicyVersion(trx: Trx, ctx: RequestContext, version: number, ifMatch: string | undefined, reason?: string): Promise<Policy> {
  const current = await lockPolicy(trx, ctx)
  assertIfMatch(ifMatch, current)
  const old = await getVersion(trx, ctx, version)
  const row = await insertVersion(trx, ctx, old.rules, version)
  await recordAudit(trx, ctx, { action: 'credit_policy.restored', entity_type: 'credit_policy', entity_id: row.id, before: { version: current }, after: { version: row.version, restored_from: version }, reason: reason ?? null })
  return currentPolicy(trx, ctx)
}

// ---- credit score ---------------------------------------------------------------------------------

/** GET /v1/customers/:id/credit: facts, score, grade and factors, evaluated now. */
export async function customerCredit(trx: Trx, ctx: RequestContext, customerId: string) {
  await getCustomer(trx, ctx, customerId) // 404 for a customer the key cannot see
  const policy = await currentPolicy(trx, ctx)
  const { today } = await ledgerContext(trx, ctx)
  const [f]: CustomerFacts[] = await computeFacts(trx, ctx.tenantId, today, [customerId], policy.grace_period_days)
  if (!f) throw new AppError('customer_deleted')
  return {
    object: 'customer_credit' as const,
    customer: customerId,
    facts: f.facts,
    score: f.facts.score,
    grade: f.facts.grade,
    factors: f.factors,
    evaluated_at: new Date().toISOString(),
    policy_version: policy.version,
    policy_source: policy.source,
  }
}

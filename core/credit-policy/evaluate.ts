import jsonLogic from 'json-logic-js'
import type { CreditPolicyRule } from '../kernel/plugins/contract'
import { isKnownFact, type Facts } from './facts'

/**
 * Credit-policy rules: validation and evaluation, pure. No database or app imports, only
 * serialisable inputs and outputs, so the evaluation can move into a contained worker thread
 * (core/kernel/plugins, piscina) unchanged; core/credit-policy/run-rules.ts is the one call site.
 */

/** An action a rule takes (API.md "Credit policy"); the plugin contract declares it. */
export type Action = CreditPolicyRule['actions'][number]

export type ActionType = Action['type']
export const ACTION_TYPES: readonly ActionType[] = ['warn', 'notify', 'suspend', 'reactivate', 'block_credit_sales', 'unblock_credit_sales']

export interface Rule {
  name: string
  description?: string
  when: unknown
  actions: Action[]
}

export const LIMITS = { maxDepth: 32, maxBytes: 64 * 1024, maxRules: 200, maxActions: 20 } as const

/** The JSON-logic operators a rule may use: comparisons, logic, arithmetic, strings; no custom or array-iterating ones. */
export const ALLOWED_OPERATORS: readonly string[] = [
  '==', '===', '!=', '!==', '>', '>=', '<', '<=', '!', '!!', 'and', 'or', 'if', '?:',
  'var', 'missing', 'missing_some', 'in', 'cat', 'substr', '+', '-', '*', '/', '%', 'min', 'max',
]

export interface RuleProblem {
  param: string
  message: string
}

const NAME_RE = /^[a-z0-9_]{1,64}$/
const TEMPLATE_RE = /^[a-z0-9_]{1,64}$/

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

/** Checks one JSON-logic expression; returns the first problem with its path. */
function checkLogic(node: unknown, path: string, depth: number): RuleProblem | null {
  if (depth > LIMITS.maxDepth) return { param: path, message: `The rule is nested deeper than ${LIMITS.maxDepth} levels.` }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const p = checkLogic(node[i], `${path}[${i}]`, depth)
      if (p) return p
    }
    return null
  }
  if (!isPlainObject(node)) return null // a literal
  const keys = Object.keys(node)
  if (keys.length !== 1) return { param: path, message: 'A JSON-logic operation is an object with exactly one operator key.' }
  const op = keys[0]
  const at = `${path}.${op}`
  if (!ALLOWED_OPERATORS.includes(op)) return { param: at, message: `The operator '${op}' is not allowed (allowed: ${ALLOWED_OPERATORS.join(' ')}).` }
  const args = node[op]
  if (op === 'var') {
    const name = Array.isArray(args) ? args[0] : args
    if (typeof name !== 'string') return { param: at, message: '`var` takes a fact name (a string).' }
    if (!isKnownFact(name)) return { param: at, message: `Unknown fact '${name}'.` }
    if (Array.isArray(args) && args.length > 2) return { param: at, message: '`var` takes a name and an optional default.' }
    return Array.isArray(args) && args.length === 2 ? checkLogic(args[1], `${at}[1]`, depth + 1) : null
  }
  if (op === 'missing' || op === 'missing_some') {
    const names = (op === 'missing_some' ? (Array.isArray(args) ? args[1] : undefined) : Array.isArray(args) ? args : [args]) as unknown
    if (!Array.isArray(names) || names.some((n) => typeof n !== 'string' || !isKnownFact(n))) return { param: at, message: `\`${op}\` names known facts only.` }
    return null
  }
  if (Array.isArray(args)) {
    for (let i = 0; i < args.length; i++) {
      const p = checkLogic(args[i], `${at}[${i}]`, depth + 1)
      if (p) return p
    }
    return null
  }
  return checkLogic(args, at, depth + 1)
}

function checkAction(a: unknown, path: string): RuleProblem | null {
  if (!isPlainObject(a)) return { param: path, message: 'An action is an object with a `type`.' }
  const type = a.type as ActionType
  if (!ACTION_TYPES.includes(type)) return { param: `${path}.type`, message: `Unknown action type '${String(a.type)}' (one of ${ACTION_TYPES.join(', ')}).` }
  const allowed: Record<ActionType, string[]> = {
    warn: ['type', 'level', 'template'],
    notify: ['type', 'template', 'channel'],
    suspend: ['type', 'reason'],
    reactivate: ['type'],
    block_credit_sales: ['type'],
    unblock_credit_sales: ['type'],
  }
  const extra = Object.keys(a).find((k) => !allowed[type].includes(k))
  if (extra) return { param: `${path}.${extra}`, message: `A '${type}' action has no '${extra}'.` }
  if (type === 'warn' && !(Number.isInteger(a.level) && (a.level as number) >= 1 && (a.level as number) <= 5)) return { param: `${path}.level`, message: 'A warning level is an integer 1..5.' }
  if ((type === 'notify' || a.template !== undefined) && !(typeof a.template === 'string' && TEMPLATE_RE.test(a.template))) {
    return { param: `${path}.template`, message: 'A template key matches ^[a-z0-9_]{1,64}$.' }
  }
  if (a.channel !== undefined && !(typeof a.channel === 'string' && a.channel.length >= 1 && a.channel.length <= 64)) return { param: `${path}.channel`, message: 'A channel is a string of 1..64 characters.' }
  if (a.reason !== undefined && !(typeof a.reason === 'string' && a.reason.length >= 1 && a.reason.length <= 500)) return { param: `${path}.reason`, message: 'A reason is a string of 1..500 characters.' }
  return null
}

/**
 * Validates a rule set as stored: shape, unique names, allowed operators, known facts, depth ≤ 32
 * and size ≤ 64 KiB. Returns the first problem (param: `rules[2].when.and[1]`) or null.
 */
export function validateRules(rules: unknown): RuleProblem | null {
  if (!Array.isArray(rules)) return { param: 'rules', message: '`rules` is an array of rules.' }
  const size = Buffer.byteLength(JSON.stringify(rules), 'utf8')
  if (size > LIMITS.maxBytes) return { param: 'rules', message: `The rule set is ${size} bytes, more than ${LIMITS.maxBytes}.` }
  if (rules.length > LIMITS.maxRules) return { param: 'rules', message: `At most ${LIMITS.maxRules} rules.` }
  const names = new Set<string>()
  for (let i = 0; i < rules.length; i++) {
    const r = rules[i] as unknown
    const at = `rules[${i}]`
    if (!isPlainObject(r)) return { param: at, message: 'A rule is an object {name, description?, when, actions}.' }
    const extra = Object.keys(r).find((k) => !['name', 'description', 'when', 'actions'].includes(k))
    if (extra) return { param: `${at}.${extra}`, message: `A rule has no '${extra}'.` }
    if (typeof r.name !== 'string' || !NAME_RE.test(r.name)) return { param: `${at}.name`, message: 'A rule name matches ^[a-z0-9_]{1,64}$.' }
    if (names.has(r.name)) return { param: `${at}.name`, message: `The rule name '${r.name}' is used twice.` }
    names.add(r.name)
    if (r.description !== undefined && !(typeof r.description === 'string' && r.description.length <= 500)) return { param: `${at}.description`, message: 'A description is a string of at most 500 characters.' }
    if (!('when' in r)) return { param: `${at}.when`, message: 'A rule needs `when` (JSON-logic).' }
    const p = checkLogic(r.when, `${at}.when`, 1)
    if (p) return p
    if (!Array.isArray(r.actions) || r.actions.length < 1 || r.actions.length > LIMITS.maxActions) return { param: `${at}.actions`, message: `A rule has 1..${LIMITS.maxActions} actions.` }
    for (let j = 0; j < r.actions.length; j++) {
      const q = checkAction(r.actions[j], `${at}.actions[${j}]`)
      if (q) return q
    }
  }
  return null
}

export interface EvaluationInput {
  rules: Rule[]
  batch: { customer: string; facts: Facts }[]
}

export interface CustomerOutcome {
  customer: string
  /** Names of the rules whose `when` held. */
  rules: string[]
  /** Their actions, in rule order, each with the rule that asked for it. */
  actions: (Action & { rule: string })[]
  /** Rules that failed to evaluate for this customer (the others still apply). */
  failed: { rule: string; error: string }[]
}

/** Evaluates every rule for every customer of the batch. */
export function evaluateRules(input: EvaluationInput): CustomerOutcome[] {
  return input.batch.map(({ customer, facts }) => {
    const out: CustomerOutcome = { customer, rules: [], actions: [], failed: [] }
    for (const rule of input.rules) {
      let matched: boolean
      try {
        matched = jsonLogic.truthy(jsonLogic.apply(rule.when as jsonLogic.RulesLogic, facts))
      } catch (err) {
        out.failed.push({ rule: rule.name, error: (err as Error).message ?? String(err) })
        continue
      }
      if (!matched) continue
      out.rules.push(rule.name)
      for (const a of rule.actions) out.actions.push({ ...a, rule: rule.name })
    }
    return out
  })
}

import { idPattern } from '../kernel/ids'

/** Route schemas of the credit policy (API.md "Credit policy", "Credit score and credit limits"). */

/** Rules are checked by validateRules (evaluate.ts) so a problem names the rule and path; the schema stays loose. */
const rulesInput = {
  type: 'array',
  maxItems: 200,
  description: 'Rules `{name, description?, when, actions}`: `when` is JSON-logic over the facts; see the README (Credit policy).',
  items: { type: 'object', additionalProperties: true },
} as const

export const putPolicyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['rules'],
  properties: { rules: rulesInput },
} as const

export const dryRunBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    rules: { ...rulesInput, description: 'A rule set to try (default: the one in force).' },
    as_of: { type: 'string', format: 'date', description: "Evaluate as of this date (default: the tenant's today)." },
    customers: { type: 'array', maxItems: 10000, uniqueItems: true, items: { type: 'string', pattern: idPattern('cus') } },
  },
} as const

export const ifMatchHeaders = {
  type: 'object',
  properties: { 'if-match': { type: 'string', maxLength: 100, description: 'The version last read (`ETag`).' } },
} as const

const ruleSchema = { type: 'object', additionalProperties: true } as const

export const policySchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['credit_policy'] },
    version: { type: 'integer', description: '0 while the plugin defaults are in force.' },
    rules: { type: 'array', items: ruleSchema },
    source: { type: 'string', description: '`plugin:<name>` until the tenant saves its own rules, then `tenant`.' },
    updated_at: { type: ['string', 'null'] },
    grace_period_days: { type: 'integer', description: "The credit-policy plugin's grace period (a customer's own grace_period_days wins)." },
  },
  required: ['object', 'version', 'rules', 'source', 'updated_at'],
} as const

export const versionSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['credit_policy_version'] },
    id: { type: 'string' },
    version: { type: 'integer' },
    rules: { type: 'array', items: ruleSchema },
    restored_from: { type: ['integer', 'null'] },
    created_by: { type: 'string' },
    created_at: { type: 'string' },
  },
  required: ['object', 'id', 'version', 'rules', 'created_at'],
} as const

export const versionParams = {
  type: 'object',
  additionalProperties: false,
  required: ['version'],
  properties: { version: { type: 'integer', minimum: 1, maximum: 2147483647 } },
} as const

export const versionsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 }, starting_after: { type: 'integer', minimum: 1 } },
} as const

export const runSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['credit_policy_run'] },
    status: { type: 'string', enum: ['queued', 'running', 'completed', 'failed'] },
    trigger: { type: 'string', enum: ['manual', 'scheduled', 'event'] },
    as_of: { type: ['string', 'null'] },
    policy_version: { type: ['integer', 'null'] },
    policy_source: { type: ['string', 'null'] },
    evaluated: { type: 'integer' },
    actions_taken: { type: 'integer' },
    rules_failed: { type: 'integer' },
    error: { type: ['string', 'null'] },
    created_at: { type: 'string' },
    started_at: { type: ['string', 'null'] },
    finished_at: { type: ['string', 'null'] },
  },
  required: ['id', 'object', 'status', 'evaluated', 'actions_taken'],
} as const

export const runParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('cpr') } },
} as const

const factsSchema = { type: 'object', additionalProperties: true, description: 'The fact object (API.md "Credit policy"); money in base minor units.' } as const
const actionSchema = { type: 'object', additionalProperties: true } as const

const counts = Object.fromEntries(['suspend', 'reactivate', 'warn', 'notify', 'block_credit_sales', 'unblock_credit_sales', 'unchanged'].map((k) => [k, { type: 'integer' }]))

export const dryRunSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['credit_policy_dry_run'] },
    as_of: { type: 'string' },
    policy_version: { type: 'integer' },
    evaluated: { type: 'integer' },
    rules_failed: { type: 'integer' },
    summary: { type: 'object', properties: counts, required: Object.keys(counts) },
    changes: {
      type: 'array',
      items: {
        type: 'object',
        properties: { customer: { type: 'string' }, rules: { type: 'array', items: { type: 'string' } }, actions: { type: 'array', items: actionSchema }, facts: factsSchema },
        required: ['customer', 'rules', 'actions', 'facts'],
      },
    },
  },
  required: ['as_of', 'evaluated', 'summary', 'changes'],
} as const

export const customerCreditSchema = {
  type: 'object',
  properties: {
    object: { type: 'string', enum: ['customer_credit'] },
    customer: { type: 'string' },
    facts: factsSchema,
    score: { type: 'integer', minimum: 0, maximum: 100 },
    grade: { type: 'string', enum: ['A', 'B', 'C', 'D', 'E'] },
    factors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { name: { type: 'string' }, value: { type: ['number', 'null'] }, weight: { type: 'number' }, points: { type: 'number' } },
        required: ['name', 'value', 'weight', 'points'],
      },
    },
    evaluated_at: { type: 'string' },
    policy_version: { type: 'integer' },
    policy_source: { type: 'string' },
  },
  required: ['facts', 'score', 'grade', 'factors', 'evaluated_at', 'policy_version'],
} as const

export { customerParams } from '../customers/schemas'

export const restoreBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S', description: 'Why (kept in the audit log).' } },
} as const

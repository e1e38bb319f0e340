/**
 * The plugin contract (apiVersion 1). Built-in plugins in `plugins/` use exactly this contract;
 * nothing in `core/` imports a plugin directly. See ../shared/design/PLUGINS.md.
 */

export const SUPPORTED_API_VERSIONS = [1] as const
export const PLUGIN_KINDS = ['chart-of-accounts', 'credit-policy', 'retention', 'notification-channel'] as const
export type PluginKind = (typeof PLUGIN_KINDS)[number]

export interface PluginManifest {
  name: string // kebab-case, unique
  version: string
  apiVersion: number
  provides: PluginKind[]
  /** JSON Schema of the per-tenant config, validated before it is stored. */
  configSchema: Record<string, unknown>
  /** Entry module relative to the plugin folder (default `index.js`, or `index.ts` when present). */
  main?: string
}

export type AccountType = 'asset' | 'liability' | 'equity' | 'revenue' | 'contra_revenue' | 'expense'

export interface Account {
  code: string
  name: string
  type: AccountType
}

/** Posting events the core asks a chart of accounts to map. */
export type PostingEventType =
  | 'invoice'
  | 'payment_applied'
  | 'payment_unapplied'
  | 'advance_applied'
  | 'credit_note'
  | 'refund'
  | 'write_off'
  | 'adjustment'
  | 'fx_difference'
  | 'chargeback'
  | 'reversal'

/**
 * Line roles the core uses. `ar` and `advances` are the customer sub-ledger roles: the core keeps
 * their amounts and customer; a mapping may not split them.
 */
export type LineRole =
  | 'ar'
  | 'advances'
  | 'cash'
  | 'bank'
  | 'revenue'
  | 'tax'
  | 'cogs'
  | 'inventory'
  | 'sales_returns'
  | 'bad_debt'
  | 'other_income'
  | 'fx_gain'
  | 'fx_loss'

export interface PostingEvent {
  type: PostingEventType
  currency: string
  /** Payment method for cash movements: cash, card, bank_transfer, check, other. */
  method?: string
  /** The lines the core proposes, by role, in transaction-currency minor units. */
  lines: ReadonlyArray<{ role: LineRole; side: 'debit' | 'credit'; amount: number }>
}

/** An explicit split of one role's amount over several accounts; the parts must add up. */
export interface SplitLine {
  account: string
  amount: number
}

/** Account code (or an explicit split) for every role present in the event. */
export type AccountMapping = Partial<Record<LineRole, string | SplitLine[]>>

export interface ChartOfAccountsPlugin<C = Record<string, unknown>> {
  /** Every account the mapping may name; the core refuses lines naming any other code. */
  accounts(config: C): Account[]
  /**
   * Maps a posting event to account codes per line role.
   * @example map({type: 'payment_applied', method: 'cash', ...}) → { cash: '1000', ar: '1100' }
   */
  map(event: PostingEvent, config: C): AccountMapping
}

/**
 * A credit-policy rule (API.md "Credit policy"): JSON-logic `when` over the customer's facts, and
 * the actions to take when it holds.
 * @example { name: 'suspend_after_60', when: { '>=': [{ var: 'max_days_overdue' }, 60] }, actions: [{ type: 'suspend' }] }
 */
export interface CreditPolicyRule {
  name: string
  description?: string
  when: unknown
  actions: Array<
    | { type: 'warn'; level: number; template?: string }
    | { type: 'notify'; template: string; channel?: string }
    | { type: 'suspend'; reason?: string }
    | { type: 'reactivate' }
    | { type: 'block_credit_sales' }
    | { type: 'unblock_credit_sales' }
  >
}

export interface CreditPolicyPlugin<C = Record<string, unknown>> {
  /** The default rule set of a tenant that has not saved its own (validated like a tenant's). */
  rules(config: C): CreditPolicyRule[]
  /** The grace period (days) the facts use for customers without their own. Default 0. */
  gracePeriodDays?(config: C): number
  /** Extra facts, seen by rules under `plugin.*`; `base` is the core's fact object. */
  facts?(customer: { id: string }, base: Record<string, unknown>, config: C): Record<string, unknown>
}

export interface PluginModule {
  chartOfAccounts?: ChartOfAccountsPlugin
  creditPolicy?: CreditPolicyPlugin
}

export interface LoadedPlugin {
  manifest: PluginManifest
  dir: string
  module: PluginModule
}

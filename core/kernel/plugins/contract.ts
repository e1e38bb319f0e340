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
  | 'chargeback_reversal'
  | 'merge'
  | 'opening_balance'
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
  | 'opening_balance_equity'

export interface PostingEvent {
  type: PostingEventType
  currency: string
  /** Payment method for cash movements: one of the tenant's codes (defaults cash, card, bank_transfer, check, other). */
  method?: string
  /**
   * Where the tenant receives money of that method (its settings): `cash` (till), `bank`, or
   * `clearing` (e.g. card receipts a processor settles later). Absent for a code the tenant no longer lists.
   */
  account_role?: 'cash' | 'bank' | 'clearing'
  /**
   * The lines the core proposes, by role and side, in order. Every `amount` is MAPPING_PROBE_AMOUNT
   * (see below), never the posting's own amount.
   */
  lines: ReadonlyArray<{ role: LineRole; side: 'debit' | 'credit'; amount: number }>
}

/**
 * A mapping is resolved once per event *shape* and config version, in a worker thread, and cached
 * (PLUGINS.md: "the posting path never waits on plugin code"). The shape is everything `map()` is
 * given: type, currency, method and the ordered (role, side) of the lines. Amounts are not part of
 * it: `map()` sees every line with this probe amount, and an explicit split is read as proportions
 * of it. The core applies a split to each line of the role: every part but the last is
 * floor(line amount × part / probe), the last takes the rest; a split whose parts do not add up to
 * the probe is refused (`posting_rejected`, "does not balance"). A mapping that must depend on the
 * amount in any other way (thresholds) cannot be expressed: the shape is all it may depend on.
 */
export const MAPPING_PROBE_AMOUNT = 1_000_000

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

/**
 * One message to one recipient (notification-channel kind). `id` is the notification id: a provider
 * that supports it uses it to refuse duplicates (an e-mail's Message-ID, an SMS gateway's reference).
 */
export interface ChannelMessage {
  id: string
  to: string
  subject?: string
  body: string
  attachments?: { filename: string; contentType: string; content: Buffer }[]
}

/** What one send came to. `retryable`: the core may try again (a temporary failure, nothing sent). */
export interface ChannelResult {
  status: 'sent' | 'failed'
  provider_id?: string
  error?: string
  retryable: boolean
}

/**
 * What the core lends a channel for one call: outbound HTTP goes through `post`, the core's SSRF
 * guard (no private targets, no redirects, a timeout), never a raw socket of the plugin's own.
 */
export interface ChannelTools {
  post(url: string, headers: Record<string, string>, body: string): Promise<
    | { kind: 'response'; status: number; body: string }
    | { kind: 'error'; code: string; message: string }
  >
  /**
   * The address to open a raw connection to `host` at (SMTP): resolved once and checked like a
   * webhook target (no loopback, private, link-local or metadata address unless private targets
   * are allowed). Connect to the address returned, never to the name again (DNS rebinding).
   * Rejects with the reason when the host is refused or does not resolve.
   */
  connectAddress(host: string): Promise<string>
  /** Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature) for `body`. */
  signedHeaders(secret: string, msgId: string, body: string): Record<string, string>
}

export interface NotificationChannelPlugin<C = Record<string, unknown>> {
  /** The recipient address a channel needs from a customer. */
  recipient: 'email' | 'phone' | 'customer'
  /**
   * Sends one message; never throws for a provider failure (returns `failed` with `retryable`).
   * @example send({id: 'ntf_…', to: 'a@b.example', subject: 'Reminder', body: '…'}, config, tools) → {status: 'sent', provider_id: '<ntf_…@…>', retryable: false}
   */
  send(message: ChannelMessage, config: C, tools: ChannelTools): Promise<ChannelResult>
}

/** The data a retention policy covers (API.md "Retention"). */
export const RETENTION_DATA_TYPES = [
  'soft_deleted_customers',
  'notifications',
  'communications',
  'webhook_deliveries',
  'events',
  'idempotency_keys',
  'audit_log',
  'documents',
] as const
export type RetentionDataType = (typeof RETENTION_DATA_TYPES)[number]
export type RetentionAction = 'archive' | 'anonymize' | 'purge'

export interface RetentionPolicy {
  data_type: RetentionDataType
  /** Days kept, counted back from the tenant's accounting day (its test clock in sandbox mode). */
  retain_days: number
  action: RetentionAction
}

export interface RetentionPlugin<C = Record<string, unknown>> {
  /**
   * The default policies for a tenant that has not overridden them. The core validates each one
   * (known data type, allowed action) and ignores none silently: an invalid list fails the call.
   * @example policies({}) → [{ data_type: 'events', retain_days: 365, action: 'purge' }, ...]
   */
  policies(config: C): RetentionPolicy[]
}

/**
 * What an entry module exports. It is only ever loaded inside the containment pool
 * (core/kernel/plugins/contained.ts), never on the thread that serves requests; every call has a time
 * budget (default 250 ms) and the thread a heap limit (64 MiB). Arguments and results cross by
 * structured clone: plain data only.
 */
export interface PluginModule {
  chartOfAccounts?: ChartOfAccountsPlugin
  retention?: RetentionPlugin
  creditPolicy?: CreditPolicyPlugin
  notificationChannel?: NotificationChannelPlugin
}

/**
 * The export (and its functions) each kind needs, checked when a plugin is discovered. A kind
 * without an entry here is checked by its runner (add the entry when the kind's contract lands).
 */
export const KIND_ENTRIES: Partial<Record<PluginKind, { export: string; functions: string[] }>> = {
  'chart-of-accounts': { export: 'chartOfAccounts', functions: ['accounts', 'map'] },
  retention: { export: 'retention', functions: ['policies'] },
  'credit-policy': { export: 'creditPolicy', functions: ['rules'] },
  'notification-channel': { export: 'notificationChannel', functions: ['send'] },
}

export interface LoadedPlugin {
  manifest: PluginManifest
  dir: string
  /** Absolute path of the entry module (loaded in the containment pool only). */
  entry: string
}

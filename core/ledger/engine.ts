import { prepared, type Trx, type Write } from '../kernel/db/knex'
import { combineWrites, defineTable, insertWrite } from '../kernel/db/table'
import type { RequestContext } from '../kernel/context'
import { AppError, type ErrorCode, notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { MAX_BALANCE, mulRound } from '../kernel/money'
import { accountingToday } from '../kernel/dates'
import { pluginRuntime } from '../kernel/plugins/runtime'
import { configVersion, type ActiveChart } from '../kernel/plugins/chart-of-accounts'
import { DEFAULT_PAYMENT_METHODS, type AccountRole, type PaymentMethodSetting } from '../settings/schemas'
import { MAPPING_PROBE_AMOUNT, type LineRole, type PostingEventType, type SplitLine } from '../kernel/plugins/contract'

/**
 * The posting engine: the only code that writes journal entries, the customer sub-ledger and the
 * cached customer balances. Every document service calls it inside the request's transaction,
 * after locking the customer (always first) and then the invoices it touches (in id order).
 */

/** Sub-ledger roles: the core owns their amounts and customer; a mapping may not split them. */
const CUSTOMER_ROLES: ReadonlySet<LineRole> = new Set(['ar', 'advances'])
/** Events that settle a receivable: a base-currency residue between rates is realized FX. */
const SETTLEMENT_EVENTS: ReadonlySet<PostingEventType> = new Set(['payment_applied', 'advance_applied', 'credit_note'])
const MAX_LINES = 500

export interface CustomerState {
  id: string
  name: string
  currency: string
  status: string
  credit_limit: number | null
  temporary_credit_limit: number | null
  temporary_credit_limit_expires_on: string | null
  credit_hold: boolean
  suspension_override_until: string | null
  payment_terms_days: number
  deleted_at: Date | null
  anonymized_at: Date | null
  assigned_to: string | null
  pending_balance: number
  advance_balance: number
  current_balance: number
  version: number
  /** The locking transaction's timestamp (now()): what its rows' created_at defaults to. */
  locked_at: Date
}

export interface LedgerContext {
  base_currency: string
  today: string
  /** The tenant's payment methods (GET /v1/settings). */
  payment_methods: readonly PaymentMethodSetting[]
}

/**
 * Locks several customers' balance rows in id order (the order every batch uses, so two batches
 * cannot deadlock, and a single posting locks only one) and returns the states found; a missing or
 * another tenant's customer is simply absent from the map. (Periods are checked per entry date
 * by the plan, `Plan.post`.)
 */
export async function lockCustomers(trx: Trx, ctx: RequestContext, customerIds: string[]): Promise<{ customers: Map<string, CustomerState> }> {
  // The balance row is the posting lock; the share lock on the customer row makes a concurrent
  // soft delete (an UPDATE of customers) and this posting wait for each other, and re-reads the
  // customer after the wait, so a posting never lands on a customer deleted meanwhile.
  const { rows } = await prepared(
    trx,
    `select c.id, c.name, c.currency, c.status, c.credit_limit, c.temporary_credit_limit, c.temporary_credit_limit_expires_on,
            c.credit_hold, c.suspension_override_until, c.payment_terms_days, c.deleted_at, c.anonymized_at, c.assigned_to,
            b.pending_balance, b.advance_balance, b.current_balance, b.version, now() as locked_at
       from customer_balances b join customers c on c.tenant_id = b.tenant_id and c.id = b.customer_id
      where b.tenant_id = :tenant and b.customer_id = any(:ids::text[])
      order by b.customer_id
        for no key update of b for share of c`,
    { tenant: ctx.tenantId, ids: [...new Set(customerIds)].sort() },
  )
  const customers = new Map<string, CustomerState>()
  for (const r of rows) customers.set(r.id, r as CustomerState)
  return { customers }
}

/** Refuses documents for a deleted customer, or one merged into another (its open items moved there). */
export function assertCustomerUsable(customer: CustomerState): void {
  if (customer.deleted_at) throw new AppError('customer_deleted', `Customer '${customer.id}' is deleted.`, { param: 'customer' })
  if (customer.status === 'merged') throw new AppError('customer_inactive', `Customer '${customer.id}' was merged into another: post to that one.`, { param: 'customer' })
  if (customer.anonymized_at) throw new AppError('customer_inactive', `Customer '${customer.id}' is anonymized: it takes no new documents.`, { param: 'customer' })
}

interface TenantLedgerRow {
  base_currency: string
  timezone: string
  sandbox: boolean
  test_clock_date: string | null
  payment_methods: PaymentMethodSetting[] | null
}

// Live tenants' ledger settings (base currency and timezone never change after provisioning) are
// cached per process; sandbox tenants are always read, because their test clock moves.
const TENANT_TTL_MS = 30_000
const tenantCache = new Map<string, { row: TenantLedgerRow; expires: number }>()

/** Tenant base currency and accounting today (test clock in sandbox mode, else the tenant's timezone). */
export async function ledgerContext(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): Promise<LedgerContext> {
  let t = tenantCache.get(ctx.tenantId)
  if (!t || t.expires < Date.now()) {
    const row: TenantLedgerRow | undefined = await trx('tenants').where({ tenant_id: ctx.tenantId }).first('base_currency', 'timezone', 'sandbox', 'test_clock_date', trx.raw(`settings->'payment_methods' as payment_methods`))
    if (!row) throw notFound('tenant')
    t = { row, expires: Date.now() + TENANT_TTL_MS }
    if (!row.sandbox) tenantCache.set(ctx.tenantId, t)
  }
  const { row } = t
  return { base_currency: row.base_currency, today: accountingToday(row), payment_methods: row.payment_methods ?? DEFAULT_PAYMENT_METHODS }
}

/** Drops the cached ledger context of a tenant (its settings changed). */
export function evictLedgerContext(tenantId: string): void {
  tenantCache.delete(tenantId)
}

/**
 * The tenant's payment method of this code, or 400 `payment_method_unknown`. A code missing from
 * the cached settings is looked up again before it is refused: another process may have just added
 * the method (PATCH /v1/settings evicts only its own process's cache).
 */
export async function paymentMethodOf(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, lc: LedgerContext, code: string, param = 'method'): Promise<PaymentMethodSetting> {
  const cached = lc.payment_methods.find((p) => p.code === code)
  if (cached) return cached
  evictLedgerContext(ctx.tenantId)
  const { payment_methods: methods } = await ledgerContext(trx, ctx)
  const m = methods.find((p) => p.code === code)
  if (!m) throw new AppError('payment_method_unknown', `Unknown payment method '${code}': use one of ${methods.map((p) => p.code).join(', ')} (GET /v1/settings).`, { param })
  return m
}

/**
 * The account role money of a payment method moves through. A method the tenant no longer lists
 * (an old document reversed) is left to the plugin's own rule for its code.
 */
async function accountRoleOf(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, method: string | undefined): Promise<AccountRole | undefined> {
  if (method === undefined) return undefined
  return (await ledgerContext(trx, ctx)).payment_methods.find((p) => p.code === method)?.account_role
}

/**
 * Exchange rate of a document in `currency` against the tenant base currency: 1 for base-currency
 * documents (a given rate must then be 1), required otherwise.
 */
export function documentRate(currency: string, baseCurrency: string, rate: string | undefined): string {
  if (currency === baseCurrency) {
    if (rate !== undefined && mulRound(1_000_000, rate, 'exchange_rate') !== 1_000_000) {
      throw new AppError('validation_failed', 'A base-currency document has exchange_rate 1.', { param: 'exchange_rate' })
    }
    return '1'
  }
  if (rate === undefined) throw new AppError('exchange_rate_required', undefined, { param: 'exchange_rate' })
  if (mulRound(1_000_000_000, rate, 'exchange_rate') <= 0) throw new AppError('validation_failed', 'exchange_rate must be positive.', { param: 'exchange_rate' })
  return rate
}

export interface ProposedLine {
  role: LineRole
  side: 'debit' | 'credit'
  /** Transaction-currency minor units. */
  amount: number
  /** Set for sub-ledger roles (ar, advances). */
  customer_id?: string
  /** Base amount when it is fixed by an earlier posting (e.g. the invoice's rate when AR is settled). */
  base?: number
  /**
   * The account, when the entry this one mirrors fixes it (a reversal hits the accounts of the
   * original, whatever the chart of accounts or the payment method's role say now): not mapped.
   */
  account_code?: string
}

export interface PostingInput {
  event: PostingEventType
  source_type: string
  source_id: string
  entry_date: string
  currency: string
  base_currency: string
  exchange_rate: string
  method?: string
  /** Set by buildEntry from the tenant's payment methods. */
  account_role?: AccountRole
  memo?: string
  reverses_entry_id?: string
  /** Book a base residue as realized FX although the event is no settlement (un-applying one). */
  realizes_fx?: boolean
  lines: ProposedLine[]
}

interface FinalLine {
  role: LineRole
  side: 'debit' | 'credit'
  fixed_base?: number
  account_code: string
  customer_id: string | null
  tx_debit: number
  tx_credit: number
  debit: number
  credit: number
}

// The tenant's active chart of accounts, cached briefly per process (a change made through
// configurePlugin evicts it here at commit; other processes see it within COA_TTL_MS).
const COA_TTL_MS = 10_000
const coaCache = new Map<string, { coa: ActiveChart | null; expires: number }>()

export function evictChartOfAccounts(tenantId: string): void {
  coaCache.delete(tenantId)
}

async function activeChartOfAccounts(trx: Trx, tenantId: string): Promise<ActiveChart> {
  let c = coaCache.get(tenantId)
  if (!c || c.expires < Date.now()) {
    const row: { name: string; config: Record<string, unknown> } | undefined = await trx('tenant_plugins')
      .where({ tenant_id: tenantId, kind: 'chart-of-accounts', enabled: true })
      .first('name', 'config')
    const plugin = row && pluginRuntime().registry.get(row.name)
    if (row && !plugin) reject(`The chart-of-accounts plugin '${row.name}' is not installed.`)
    c = { coa: row ? { ...row, version: configVersion(plugin!.manifest, row.config) } : null, expires: Date.now() + COA_TTL_MS }
    coaCache.set(tenantId, c)
  }
  if (!c.coa) reject('The tenant has no active chart-of-accounts plugin.')
  return c.coa
}

function reject(message: string): never {
  throw new AppError('posting_rejected', message)
}

/**
 * Maps proposed lines to accounts with the tenant's chart of accounts and validates the result.
 * The mapping of the event's shape comes from the runtime's cache (resolved in the containment pool
 * the first time the shape is seen for this config version: contract.ts MAPPING_PROBE_AMOUNT); a
 * split is applied to each line as proportions of the probe amount.
 */
async function mapLines(coa: ActiveChart, input: PostingInput, lines: ProposedLine[], event: PostingEventType): Promise<FinalLine[]> {
  // Lines whose account is fixed (a reversal's) are not mapped; the plugin maps the others.
  const toMap = lines.filter((l) => l.account_code === undefined)
  const { mapping, known } = toMap.length
    ? await pluginRuntime().chartOfAccounts.mapping(coa, {
        type: event,
        currency: input.currency,
        method: input.method,
        account_role: input.account_role,
        lines: toMap.map((l) => ({ role: l.role, side: l.side })),
      })
    : { mapping: {}, known: new Set<string>() }
  const out: FinalLine[] = []
  for (const l of lines) {
    const target = l.account_code ?? (mapping[l.role] as string | SplitLine[] | undefined)
    const parts: SplitLine[] =
      typeof target === 'string'
        ? [{ account: target, amount: l.amount }]
        : Array.isArray(target)
          ? apportion(l.role, l.amount, target)
          : reject(`No account mapped for role '${l.role}' of event '${event}'.`)
    if (CUSTOMER_ROLES.has(l.role) && (parts.length !== 1 || parts[0].amount !== l.amount)) reject(`The '${l.role}' role cannot be split or changed by a mapping.`)
    for (const p of parts) {
      if (typeof p?.account !== 'string' || (l.account_code === undefined && !known.has(p.account))) reject(`The mapping names an unknown account '${String(p?.account)}' for role '${l.role}'.`)
      out.push({
        role: l.role,
        side: l.side,
        fixed_base: CUSTOMER_ROLES.has(l.role) ? l.base : undefined,
        account_code: p.account,
        customer_id: CUSTOMER_ROLES.has(l.role) ? (l.customer_id ?? reject(`Role '${l.role}' needs a customer.`)) : null,
        tx_debit: l.side === 'debit' ? p.amount : 0,
        tx_credit: l.side === 'credit' ? p.amount : 0,
        debit: 0,
        credit: 0,
      })
    }
  }
  return out
}

/**
 * A split of the probe amount applied to a line's amount: every part but the last is
 * floor(amount × part / probe), the last takes the rest. Parts must be non-negative integers adding
 * up to the probe.
 */
function apportion(role: LineRole, amount: number, split: SplitLine[]): SplitLine[] {
  let sum = 0
  for (const p of split) {
    if (!Number.isSafeInteger(p?.amount) || p.amount < 0) reject(`The mapping produced a non-integer or negative amount for role '${role}'.`)
    sum += p.amount
  }
  if (!split.length || sum !== MAPPING_PROBE_AMOUNT) reject(`The split of role '${role}' does not balance: its parts add up to ${sum}, not ${MAPPING_PROBE_AMOUNT}.`)
  let rest = amount
  return split.map((p, i) => {
    const part = i === split.length - 1 ? rest : Number((BigInt(amount) * BigInt(p.amount)) / BigInt(MAPPING_PROBE_AMOUNT))
    rest -= part
    return { account: p.account, amount: part }
  })
}

/** A journal entry built and validated in memory, ready to insert. */
export interface BuiltEntry {
  id: string
  input: PostingInput
  actor: string
  lines: FinalLine[]
}

/**
 * Builds one balanced journal entry in memory: amounts come from the caller; the tenant's
 * chart-of-accounts plugin maps roles to accounts; the result is validated (balanced in transaction
 * currency and in base, known accounts, sub-ledger roles intact). Writes nothing.
 */
export async function buildEntry(trx: Trx, ctx: RequestContext, input: PostingInput): Promise<BuiltEntry> {
  const lines = input.lines.filter((l) => l.amount !== 0)
  if (lines.length < 2 || lines.length > MAX_LINES) reject(`A journal entry needs 2 to ${MAX_LINES} lines.`)
  const coa = await activeChartOfAccounts(trx, ctx.tenantId)

  const accountRole = await accountRoleOf(trx, ctx, input.method)
  const final = await mapLines(coa, { ...input, account_role: accountRole }, lines, input.event)
  const txDebit = final.reduce((s, l) => s + l.tx_debit, 0)
  const txCredit = final.reduce((s, l) => s + l.tx_credit, 0)
  if (txDebit !== txCredit) reject(`The posting does not balance: debit ${txDebit}, credit ${txCredit}.`)

  // Base amounts: fixed where a line says so, else round_half_up(amount × rate); any residue is
  // realized FX on settlements and rounding (onto the largest non-customer line) otherwise.
  for (const l of final) {
    const tx = l.tx_debit || l.tx_credit
    const base = l.fixed_base ?? (input.currency === input.base_currency ? tx : mulRound(tx, input.exchange_rate, 'exchange_rate'))
    if (l.side === 'debit') l.debit = base
    else l.credit = base
  }
  let residue = final.reduce((s, l) => s + l.debit - l.credit, 0)
  if (residue !== 0) {
    if (SETTLEMENT_EVENTS.has(input.event) || input.realizes_fx) {
      const role: LineRole = residue > 0 ? 'fx_gain' : 'fx_loss'
      const fx = await mapLines(coa, input, [{ role, side: residue > 0 ? 'credit' : 'debit', amount: 0 }], 'fx_difference')
      for (const l of fx) {
        if (residue > 0) l.credit = residue
        else l.debit = -residue
        final.push(l)
      }
      residue = 0
    } else {
      const candidates = final.filter((l) => !CUSTOMER_ROLES.has(l.role))
      if (!candidates.length) reject('The posting does not balance in base currency.')
      const target = candidates.reduce((a, b) => (a.debit + a.credit >= b.debit + b.credit ? a : b))
      if (target.credit > 0) target.credit += residue
      else target.debit -= residue
      if (target.credit < 0 || target.debit < 0) reject('The posting does not balance in base currency.')
    }
  }
  return { id: newId('je'), input, actor: ctx.keyId ?? ctx.role, lines: final }
}

const journalEntriesTable = defineTable<{
  id: string; entry_date: string; event: string; source_type: string; source_id: string; currency: string; exchange_rate: string
  memo: string | null; reverses_entry_id: string | null; created_by: string
}>(
  'journal_entries',
  {
    id: 'text', entry_date: 'date', event: 'text', source_type: 'text', source_id: 'text', currency: 'text', exchange_rate: 'numeric',
    memo: 'text', reverses_entry_id: 'text', created_by: 'text',
  },
  ['id'],
)

const journalLinesTable = defineTable<{
  entry_id: string; line_no: number; entry_date: string; account_code: string; role: string; customer_id: string | null; currency: string
  debit: number; credit: number; tx_debit: number; tx_credit: number
}>(
  'journal_lines',
  {
    entry_id: 'text', line_no: 'smallint', entry_date: 'date', account_code: 'text', role: 'text', customer_id: 'text', currency: 'text',
    debit: 'bigint', credit: 'bigint', tx_debit: 'bigint', tx_credit: 'bigint',
  },
  ['entry_id', 'line_no'],
)

/**
 * The writes of built entries and all their lines, for runWrites. The insert trigger refuses an
 * entry dated in a closed or locked period (under FOR SHARE, so a close waits for the posting),
 * and the database checks every balance at commit.
 */
export function entryWrites(ctx: Pick<RequestContext, 'tenantId'>, entries: BuiltEntry[]): Write | null {
  if (!entries.length) return null
  return combineWrites(
    insertWrite(
      journalEntriesTable,
      ctx.tenantId,
      entries.map(({ id, input, actor }) => ({
        id,
        entry_date: input.entry_date,
        event: input.event,
        source_type: input.source_type,
        source_id: input.source_id,
        currency: input.currency,
        exchange_rate: input.exchange_rate,
        memo: input.memo ?? null,
        reverses_entry_id: input.reverses_entry_id ?? null,
        created_by: actor,
      })),
    ),
    insertWrite(
      journalLinesTable,
      ctx.tenantId,
      entries.flatMap(({ id, input, lines }) =>
        lines.map((l, i) => ({
          entry_id: id,
          line_no: i + 1,
          entry_date: input.entry_date,
          account_code: l.account_code,
          role: l.role,
          customer_id: l.customer_id,
          currency: input.currency,
          debit: l.debit,
          credit: l.credit,
          tx_debit: l.tx_debit,
          tx_credit: l.tx_credit,
        })),
      ),
    ),
  )
}

export type CustomerTxnType =
  | 'invoice' | 'payment' | 'refund' | 'credit_note' | 'debit_note' | 'adjustment' | 'write_off' | 'reversal' | 'fx_difference' | 'chargeback' | 'chargeback_reversal'
  | 'merge_out' | 'merge_in'

export interface BalanceChange {
  /** Change of open-invoice outstanding (AR). */
  pending: number
  /** Change of unapplied credit (customer advances). */
  advance: number
  /**
   * How to refuse the change when it would take the advance balance below zero, in the terms of the
   * document that asks for it: a refund says `refund_exceeds_credit`; by default the answer is the
   * general 422 `insufficient_credit` (applying credit, taking back credit already spent…).
   */
  insufficientCredit?: { code: ErrorCode; message?: string; param?: string }
  /** Sub-ledger row; omitted for movements that leave the current balance unchanged (applications). */
  txn?: {
    type: CustomerTxnType
    reference: string
    source_type: string
    source_id: string
    posting_date: string
    journal_entry_id: string
    reverses_id?: string
    reason?: string | null
  }
}

/** A balance change applied to the in-memory customer state, waiting to be written. */
export interface StagedBalanceChange {
  customer_id: string
  pending: number
  advance: number
  txn: CustomerTxnInsert | null
}

/** A sub-ledger row as a posting inserts it (created_at is the transaction's now()). */
export interface CustomerTxnInsert {
  id: string
  customer_id: string
  type: CustomerTxnType
  amount: number
  currency: string
  balance_before: number
  balance_after: number
  reference: string
  source_type: string
  source_id: string
  posting_date: string
  reverses_id: string | null
  actor: string
  reason: string | null
  journal_entry_id: string
}

const customerTransactionsTable = defineTable<CustomerTxnInsert>(
  'customer_transactions',
  {
    id: 'text', customer_id: 'text', type: 'text', amount: 'bigint', currency: 'text', balance_before: 'bigint', balance_after: 'bigint',
    reference: 'text', source_type: 'text', source_id: 'text', posting_date: 'date', reverses_id: 'text', actor: 'text', reason: 'text',
    journal_entry_id: 'text',
  },
  ['id'],
)

/**
 * Checks a change against the locked customer's state, applies it to that state (so a later change
 * of the same customer in the same transaction sees it) and returns what writeBalanceChanges
 * writes: the increments and the sub-ledger row with balance before/after. Writes nothing.
 */
export function stageBalanceChange(ctx: RequestContext, customer: CustomerState, change: BalanceChange): StagedBalanceChange {
  const before = customer.current_balance
  const delta = change.pending - change.advance
  if ((change.pending !== 0 || change.advance !== 0) && customer.advance_balance + change.advance < 0) {
    const refusal = change.insufficientCredit ?? { code: 'insufficient_credit' }
    throw new AppError(
      refusal.code,
      refusal.message ?? `The customer has too little unapplied credit: ${-change.advance} needed, ${customer.advance_balance} available.`,
      { param: refusal.param, details: { customer: customer.id, advance_balance: customer.advance_balance, needed: -change.advance } },
    )
  }
  const pendingAfter = customer.pending_balance + change.pending
  const advanceAfter = customer.advance_balance + change.advance
  if ((change.pending > 0 && pendingAfter > MAX_BALANCE) || (change.advance > 0 && advanceAfter > MAX_BALANCE)) {
    throw new AppError('balance_limit_exceeded', `A customer balance is at most ${MAX_BALANCE} minor units.`, {
      param: 'amount',
      details: { customer: customer.id, pending_balance: customer.pending_balance, advance_balance: customer.advance_balance, limit: MAX_BALANCE },
    })
  }
  if (!change.txn && delta !== 0) throw new Error('a change of the current balance needs a sub-ledger row')
  const t = change.txn
  const txn: CustomerTxnInsert | null = t
    ? {
        id: newId('txn'),
        customer_id: customer.id,
        type: t.type,
        amount: delta,
        currency: customer.currency,
        balance_before: before,
        balance_after: before + delta,
        reference: t.reference,
        source_type: t.source_type,
        source_id: t.source_id,
        posting_date: t.posting_date,
        reverses_id: t.reverses_id ?? null,
        actor: ctx.keyId ?? ctx.role,
        reason: t.reason ?? null,
        journal_entry_id: t.journal_entry_id,
      }
    : null
  customer.pending_balance += change.pending
  customer.advance_balance += change.advance
  customer.current_balance += delta
  if (change.pending !== 0 || change.advance !== 0) customer.version += 1
  return { customer_id: customer.id, pending: change.pending, advance: change.advance, txn }
}

/**
 * The writes of staged changes, for runWrites: one atomic increment per customer (summed) and the
 * sub-ledger rows.
 */
export function balanceWrites(ctx: Pick<RequestContext, 'tenantId'>, staged: StagedBalanceChange[]): Write | null {
  const sums = new Map<string, { customer_id: string; pending: number; advance: number; n: number }>()
  for (const s of staged) {
    if (s.pending === 0 && s.advance === 0) continue
    const sum = sums.get(s.customer_id) ?? { customer_id: s.customer_id, pending: 0, advance: 0, n: 0 }
    sum.pending += s.pending
    sum.advance += s.advance
    sum.n += 1
    sums.set(s.customer_id, sum)
  }
  const txns = staged.flatMap((s) => (s.txn ? [s.txn] : []))
  if (!sums.size && !txns.length) return null
  return combineWrites(
    sums.size
      ? {
          ctes: `bal_u as (
       update customer_balances b
          set pending_balance = b.pending_balance + x.pending, advance_balance = b.advance_balance + x.advance,
              version = b.version + x.n, updated_at = now()
         from json_to_recordset(:bal_changes::json) as x(customer_id text, pending bigint, advance bigint, n int)
        where b.tenant_id = :bal_tenant and b.customer_id = x.customer_id
     )`,
          bindings: { bal_tenant: ctx.tenantId, bal_changes: JSON.stringify([...sums.values()]) },
        }
      : null,
    insertWrite(customerTransactionsTable, ctx.tenantId, txns),
  )
}

export { nextNumber } from './numbering'

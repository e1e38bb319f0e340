import { prepared, type Trx } from '../db/knex'
import type { RequestContext } from '../http/context'
import { AppError, notFound } from '../errors'
import { newId } from '../ids'
import { mulRound } from '../money'
import { pluginRegistry } from '../plugins/registry'
import type { LineRole, PostingEvent, PostingEventType, SplitLine } from '../plugins/contract'

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
  payment_terms_days: number
  deleted_at: Date | null
  assigned_to: string | null
  pending_balance: number
  advance_balance: number
  current_balance: number
  version: number
}

export interface LedgerContext {
  base_currency: string
  today: string
}

/** Locks the customer's balance row (the first lock of every posting) and returns its state. */
export async function lockCustomer(trx: Trx, ctx: RequestContext, customerId: string, param = 'customer'): Promise<CustomerState> {
  // The balance row is the posting lock; the share lock on the customer row makes a concurrent
  // soft delete (an UPDATE of customers) and this posting wait for each other, and re-reads the
  // customer after the wait, so a posting never lands on a customer deleted meanwhile.
  const { rows } = await prepared(
    trx,
    `select c.id, c.name, c.currency, c.status, c.credit_limit, c.temporary_credit_limit, c.temporary_credit_limit_expires_on,
            c.payment_terms_days, c.deleted_at, c.assigned_to,
            b.pending_balance, b.advance_balance, b.current_balance, b.version
       from customer_balances b join customers c on c.tenant_id = b.tenant_id and c.id = b.customer_id
      where b.tenant_id = ? and b.customer_id = ?
        for no key update of b for share of c`,
    [ctx.tenantId, customerId],
  )
  if (!rows.length) throw notFound('customer', customerId, param)
  return rows[0] as CustomerState
}

/** Refuses documents for a deleted customer. */
export function assertCustomerUsable(customer: CustomerState): void {
  if (customer.deleted_at) throw new AppError('customer_deleted', `Customer '${customer.id}' is deleted.`, { param: 'customer' })
}

interface TenantLedgerRow {
  base_currency: string
  timezone: string
  sandbox: boolean
  test_clock_date: string | null
}

// Live tenants' ledger settings (base currency and timezone never change after provisioning) are
// cached per process; sandbox tenants are always read, because their test clock moves.
const TENANT_TTL_MS = 30_000
const tenantCache = new Map<string, { row: TenantLedgerRow; expires: number }>()
const todayFormatters = new Map<string, Intl.DateTimeFormat>()

function todayIn(timezone: string): string {
  let f = todayFormatters.get(timezone)
  if (!f) todayFormatters.set(timezone, (f = new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' })))
  return f.format(new Date())
}

/** Tenant base currency and accounting today (test clock in sandbox mode, else the tenant's timezone). */
export async function ledgerContext(trx: Trx, ctx: RequestContext): Promise<LedgerContext> {
  let t = tenantCache.get(ctx.tenantId)
  if (!t || t.expires < Date.now()) {
    const row: TenantLedgerRow | undefined = await trx('tenants').where({ tenant_id: ctx.tenantId }).first('base_currency', 'timezone', 'sandbox', 'test_clock_date')
    if (!row) throw notFound('tenant')
    t = { row, expires: Date.now() + TENANT_TTL_MS }
    if (!row.sandbox) tenantCache.set(ctx.tenantId, t)
  }
  const { row } = t
  return { base_currency: row.base_currency, today: row.sandbox && row.test_clock_date ? row.test_clock_date : todayIn(row.timezone) }
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
const coaCache = new Map<string, { coa: { name: string; config: Record<string, unknown> } | null; expires: number }>()

export function evictChartOfAccounts(tenantId: string): void {
  coaCache.delete(tenantId)
}

async function activeChartOfAccounts(trx: Trx, tenantId: string): Promise<{ name: string; config: Record<string, unknown> }> {
  let c = coaCache.get(tenantId)
  if (!c || c.expires < Date.now()) {
    const row = await trx('tenant_plugins').where({ tenant_id: tenantId, kind: 'chart-of-accounts', enabled: true }).first('name', 'config')
    c = { coa: row ?? null, expires: Date.now() + COA_TTL_MS }
    coaCache.set(tenantId, c)
  }
  if (!c.coa) reject('The tenant has no active chart-of-accounts plugin.')
  return c.coa
}

function reject(message: string): never {
  throw new AppError('posting_rejected', message)
}

/** Asks the tenant's chart-of-accounts plugin for account codes and validates what it returns. */
function mapLines(coa: { name: string; config: Record<string, unknown> }, input: PostingInput, lines: ProposedLine[], event: PostingEventType): FinalLine[] {
  const plugin = pluginRegistry().get(coa.name)?.module.chartOfAccounts
  if (!plugin) reject(`The chart-of-accounts plugin '${coa.name}' is not installed.`)
  const postingEvent: PostingEvent = {
    type: event,
    currency: input.currency,
    method: input.method,
    lines: lines.map((l) => Object.freeze({ role: l.role, side: l.side, amount: l.amount })),
  }
  let mapping: ReturnType<typeof plugin.map>
  let known: Set<string>
  try {
    mapping = plugin.map(postingEvent, coa.config)
    known = new Set(plugin.accounts(coa.config).map((a) => a.code))
  } catch (err) {
    reject(`The chart-of-accounts plugin '${coa.name}' failed: ${(err as Error)?.message ?? String(err)}`)
  }
  if (!mapping || typeof mapping !== 'object') reject(`The chart-of-accounts plugin '${coa.name}' returned no mapping.`)
  const out: FinalLine[] = []
  for (const l of lines) {
    const target = mapping[l.role] as string | SplitLine[] | undefined
    const parts: SplitLine[] =
      typeof target === 'string' ? [{ account: target, amount: l.amount }] : Array.isArray(target) ? target : reject(`No account mapped for role '${l.role}' of event '${event}'.`)
    if (CUSTOMER_ROLES.has(l.role) && (parts.length !== 1 || parts[0].amount !== l.amount)) reject(`The '${l.role}' role cannot be split or changed by a mapping.`)
    for (const p of parts) {
      if (typeof p?.account !== 'string' || !known.has(p.account)) reject(`The mapping names an unknown account '${String(p?.account)}' for role '${l.role}'.`)
      if (!Number.isSafeInteger(p.amount) || p.amount < 0) reject(`The mapping produced a non-integer or negative amount for role '${l.role}'.`)
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
 * Builds and inserts one balanced journal entry. Amounts come from the caller; the tenant's
 * chart-of-accounts plugin maps roles to accounts; the result is validated (balanced in transaction
 * currency and in base, known accounts, sub-ledger roles intact) before anything is written, and
 * the database checks the balance again at commit.
 */
export async function postEntry(trx: Trx, ctx: RequestContext, input: PostingInput): Promise<string> {
  const lines = input.lines.filter((l) => l.amount !== 0)
  if (lines.length < 2 || lines.length > MAX_LINES) reject(`A journal entry needs 2 to ${MAX_LINES} lines.`)
  const coa = await activeChartOfAccounts(trx, ctx.tenantId)

  const final = mapLines(coa, input, lines, input.event)
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
      const fx = mapLines(coa, input, [{ role, side: residue > 0 ? 'credit' : 'debit', amount: 0 }], 'fx_difference')
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

  // Period check, entry and lines in one statement (one round trip instead of two): the entry and
  // its lines are written only when the date falls in no closed or locked period, and the status
  // found is returned for the error. The insert trigger re-checks the period under FOR SHARE, and
  // the database re-checks the balance at commit.
  const entryId = newId('je')
  const { rows } = await prepared(
    trx,
    `with p as (
       select status from accounting_periods where tenant_id = :tenant and cast(:date as date) between start_date and end_date
     ), e as (
       insert into journal_entries (tenant_id, id, entry_date, event, source_type, source_id, currency, exchange_rate, memo, reverses_entry_id, created_by)
       select :tenant, :id, :date, :event, :source_type, :source_id, :currency, :rate, :memo, :reverses, :actor
        where not exists (select 1 from p where status <> 'open')
       returning id
     ), l as (
       insert into journal_lines (tenant_id, entry_id, line_no, entry_date, account_code, role, customer_id, currency, debit, credit, tx_debit, tx_credit)
       select :tenant, e.id, l.line_no, :date, l.account_code, l.role, l.customer_id, :currency, l.debit, l.credit, l.tx_debit, l.tx_credit
         from e, jsonb_to_recordset(:lines::jsonb) as l(line_no smallint, account_code text, role text, customer_id text,
              debit bigint, credit bigint, tx_debit bigint, tx_credit bigint)
     )
     select (select status from p) as period_status`,
    {
      tenant: ctx.tenantId,
      id: entryId,
      date: input.entry_date,
      event: input.event,
      source_type: input.source_type,
      source_id: input.source_id,
      currency: input.currency,
      rate: input.exchange_rate,
      memo: input.memo ?? null,
      reverses: input.reverses_entry_id ?? null,
      actor: ctx.keyId ?? ctx.role,
      lines: JSON.stringify(
        final.map((l, i) => ({
          line_no: i + 1,
          account_code: l.account_code,
          role: l.role,
          customer_id: l.customer_id,
          debit: l.debit,
          credit: l.credit,
          tx_debit: l.tx_debit,
          tx_credit: l.tx_credit,
        })),
      ),
    },
  )
  const periodStatus: string | null = rows[0].period_status
  if (periodStatus && periodStatus !== 'open') throw new AppError('period_closed', `${input.entry_date} falls in a ${periodStatus} period.`, { param: 'posting_date' })
  return entryId
}

export type CustomerTxnType =
  | 'invoice' | 'payment' | 'refund' | 'credit_note' | 'debit_note' | 'adjustment' | 'write_off' | 'reversal' | 'fx_difference' | 'chargeback' | 'chargeback_reversal'

export interface BalanceChange {
  /** Change of open-invoice outstanding (AR). */
  pending: number
  /** Change of unapplied credit (customer advances). */
  advance: number
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

/**
 * Applies a change to the locked customer's cached balance by atomic increment and appends the
 * sub-ledger row with balance before/after. Returns the transaction id when one is written.
 */
export async function changeBalance(trx: Trx, ctx: RequestContext, customer: CustomerState, change: BalanceChange): Promise<string | null> {
  const before = customer.current_balance
  const delta = change.pending - change.advance
  const moves = change.pending !== 0 || change.advance !== 0
  if (moves && customer.advance_balance + change.advance < 0) throw new AppError('refund_exceeds_credit', 'The customer has too little unapplied credit.')
  if (!change.txn && delta !== 0) throw new Error('a change of the current balance needs a sub-ledger row')
  const id = change.txn ? newId('txn') : null
  const update = `update customer_balances
       set pending_balance = pending_balance + :pending, advance_balance = advance_balance + :advance,
           version = version + 1, updated_at = now()
     where tenant_id = :tenant and customer_id = :customer`
  const params = { tenant: ctx.tenantId, customer: customer.id, pending: change.pending, advance: change.advance }
  if (change.txn) {
    // Balance and sub-ledger row in one statement.
    const t = change.txn
    await prepared(
      trx,
      `${moves ? `with u as (${update}) ` : ''}
       insert into customer_transactions (tenant_id, id, customer_id, type, amount, currency, balance_before, balance_after,
         reference, source_type, source_id, posting_date, reverses_id, actor, reason, journal_entry_id)
       values (:tenant, :id, :customer, :type, :amount, :currency, :before, :after, :reference, :source_type, :source_id,
         :posting_date, :reverses_id, :actor, :reason, :journal_entry_id)`,
      {
        ...params,
        id,
        type: t.type,
        amount: delta,
        currency: customer.currency,
        before,
        after: before + delta,
        reference: t.reference,
        source_type: t.source_type,
        source_id: t.source_id,
        posting_date: t.posting_date,
        reverses_id: t.reverses_id ?? null,
        actor: ctx.keyId ?? ctx.role,
        reason: t.reason ?? null,
        journal_entry_id: t.journal_entry_id,
      },
    )
  } else if (moves) {
    await trx.raw(update, params)
  }
  if (moves) {
    customer.pending_balance += change.pending
    customer.advance_balance += change.advance
    customer.current_balance += delta
    customer.version += 1
  }
  return id
}

export { nextNumber } from './numbering'

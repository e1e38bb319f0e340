import type { Test } from 'tap'
import { checkLedger } from '../../core/ledger/integrity'
import type { ApiClient, TestEnv } from './app'

/** Helpers for the document tests (credit notes, write-offs, adjustments, reversals, sales). */

const TABLES = [
  'journal_entries', 'journal_lines', 'customer_transactions', 'invoices', 'invoice_lines', 'payments', 'allocations',
  'credit_notes', 'credit_note_lines', 'write_offs', 'adjustments', 'sales', 'events', 'audit_log',
] as const

/** Row counts of every table a posting can write (superuser, all tenants). */
export async function counts(env: TestEnv): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const table of TABLES) out[table] = Number((await env.admin(table).count('* as n'))[0].n)
  return out
}

export async function balance(api: ApiClient, customer: string) {
  const res = await api.get(`/v1/customers/${customer}`)
  if (res.statusCode !== 200) throw new Error(`customer: ${res.statusCode} ${res.raw}`)
  const { pending_balance, advance_balance, current_balance } = res.body.balance
  return { pending_balance, advance_balance, current_balance }
}

/** [account, debit, credit] per line of an entry (base amounts), plus [tx_debit, tx_credit] with `tx`. */
export async function lines(env: TestEnv, entryId: string, opts: { tx?: boolean } = {}) {
  const rows = await env.admin('journal_lines').where({ entry_id: entryId }).orderBy('line_no')
  return rows.map((l: any) => (opts.tx ? [l.account_code, l.debit, l.credit, l.tx_debit, l.tx_credit] : [l.account_code, l.debit, l.credit]))
}

/** Asserts the entry balances in base and transaction currency and returns its lines. */
export async function balanced(t: Test, env: TestEnv, entryId: string) {
  const rows = await env.admin('journal_lines').where({ entry_id: entryId })
  t.ok(rows.length >= 2, `entry ${entryId} has lines`)
  const sum = (k: string) => rows.reduce((s: number, l: any) => s + l[k], 0)
  t.equal(sum('debit'), sum('credit'), `entry ${entryId} balances in base`)
  t.equal(sum('tx_debit'), sum('tx_credit'), `entry ${entryId} balances in transaction currency`)
  return lines(env, entryId)
}

/** Every ledger invariant holds for the tenant (core/ledger/integrity.ts). */
export async function intact(t: Test, env: TestEnv, tenantUuid: string) {
  t.same(await checkLedger(env.admin as any, tenantUuid), [], 'ledger invariants hold')
}

export async function customer(api: ApiClient, body: Record<string, unknown> = {}): Promise<string> {
  const res = await api.post('/v1/customers', { name: 'Buyer', ...body })
  if (res.statusCode !== 201) throw new Error(`customer: ${res.statusCode} ${res.raw}`)
  return res.body.id
}

/**
 * An invoice through the API: `lines` as given, or a number for one line 'Goods' of that amount.
 * Dated today (the tenant's) unless `extra` gives an issue_date; `extra` may add anything else.
 */
export async function invoice(api: ApiClient, customerId: string, lines: number | Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  const items = typeof lines === 'number' ? [{ description: 'Goods', quantity: 1, unit_amount: lines }] : lines
  const res = await api.post('/v1/invoices', { customer: customerId, lines: items, ...extra })
  if (res.statusCode !== 201) throw new Error(`invoice: ${res.statusCode} ${res.raw}`)
  return res.body
}

/** A cash payment of `amount` through the API; `extra` may add allocations, auto_apply, a method… */
export async function payment(api: ApiClient, customerId: string, amount: number, extra: Record<string, unknown> = {}) {
  const res = await api.post('/v1/payments', { customer: customerId, amount, method: 'cash', ...extra })
  if (res.statusCode !== 201) throw new Error(`payment: ${res.statusCode} ${res.raw}`)
  return res.body
}

/** The sub-ledger row a document wrote. */
export async function txnOf(env: TestEnv, sourceId: string) {
  return env.admin('customer_transactions').where({ source_id: sourceId }).whereNot({ type: 'reversal' }).first()
}

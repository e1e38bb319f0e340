import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, CATALOG, type ErrorCode } from '../kernel/errors'
import { toBaseAmount } from '../kernel/money'
import { documentRate, ledgerContext } from '../ledger/engine'
import { documentTxn, getJournalEntry, getTxn } from '../ledger/reads'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { approvalSettings } from '../../tenants/settings'
import type { ApprovalSettings } from '../settings/schemas'
import { getCustomer } from '../customers/service'
import { getInvoiceRow } from '../invoices/model'
import { getPaymentRow } from '../payments/model'
import { getCreditNoteRow } from '../credit-notes/model'
import { decideApprovalRequest, insertApprovalRequest, lockApprovalRequest, type ApprovalView } from '../approvals/model'
import type { ApprovalActionName, ApprovalPayload } from '../approvals/schemas'
import type { CreateRefundInput } from '../refunds/schemas'
import type { CreateWriteOffInput } from '../write-offs/schemas'
import type { ReverseTransactionInput, VoidInput } from '../reversals/schemas'
import { createRefunds } from './refund'
import { createWriteOffs } from './write-off'
import { reverseTransactionById } from './reverse'
import { voidInvoice, voidPayment } from './void'
import { repairRun } from '../reconciliation/service'

/**
 * Workflow: four eyes (API.md "Approvals"). A refund, write-off or reversal whose amount in base
 * minor units is over the tenant's threshold is not posted: it is held as an approval request
 * (its path parameters and body, as sent) until a different key with `approvals.approve` approves
 * it, which runs the action once, in the approving transaction and as the approver, or rejects it.
 *
 * The actions are listed once, below: what threshold (or switch) governs each, how its amount is measured, and
 * the workflow that runs it. Routes ask `approvalNeeded` before they post (core/http/approvals.ts).
 */

interface Measure {
  customer: string | null
  amount: number
  currency: string
  base_amount: number
}

interface ApprovalAction {
  /**
   * What makes the action wait: an amount setting (the request waits when its base amount is over
   * it; null: never) or an on/off switch (when on, every request waits).
   */
  gate: { threshold: keyof Pick<ApprovalSettings, 'refund_over' | 'write_off_over' | 'reversal_over'> } | { switch: keyof Pick<ApprovalSettings, 'repair'> }
  /** The amount the action would post (reads only); refuses, as the posting would, what cannot be measured. */
  measure(trx: Trx, ctx: RequestContext, p: ApprovalPayload, baseCurrency: string): Promise<Measure>
  /** Runs the action as it would have run without approval; an AppError refuses it (nothing written). */
  execute(trx: Trx, ctx: RequestContext, p: ApprovalPayload): Promise<unknown>
}

/** What is left of a sub-ledger row to reverse. */
const remaining = (t: { amount: number; reversals_sum: number }) => Math.abs(t.amount) - Math.abs(t.reversals_sum)

async function measureTxn(trx: Trx, ctx: RequestContext, txnId: string, amount: number | undefined, rate: string | undefined, baseCurrency: string): Promise<Measure> {
  const txn = await getTxn(trx, ctx, txnId)
  const a = amount ?? remaining(txn)
  const r = txn.currency === baseCurrency ? '1' : (rate ?? (await getJournalEntry(trx, ctx, txn.journal_entry_id)).exchange_rate)
  return { customer: txn.customer_id, amount: a, currency: txn.currency, base_amount: toBaseAmount(a, txn.currency, baseCurrency, r) }
}

const params = (p: ApprovalPayload) => p.params ?? {}

/** The actions an approval can hold, and how each runs: an explicit map, no self-registration. */
export const APPROVAL_ACTIONS: Record<ApprovalActionName, ApprovalAction> = {
  'refund.create': {
    gate: { threshold: 'refund_over' },
    async measure(trx, ctx, p, baseCurrency) {
      const body = p.body as unknown as CreateRefundInput
      const customer = await getCustomer(trx, ctx, body.customer)
      let rate: string | number | undefined = body.exchange_rate
      if (rate === undefined && body.source && customer.currency !== baseCurrency) {
        rate = body.source.startsWith('pay_') ? (await getPaymentRow(trx, ctx, body.source, 'source')).exchange_rate : (await getCreditNoteRow(trx, ctx, body.source)).exchange_rate
      }
      const r = documentRate(customer.currency, baseCurrency, rate === undefined ? undefined : String(rate))
      return { customer: customer.id, amount: body.amount, currency: customer.currency, base_amount: toBaseAmount(body.amount, customer.currency, baseCurrency, r) }
    },
    async execute(trx, ctx, p) {
      const [out] = await createRefunds(trx, [{ ctx, input: p.body as unknown as CreateRefundInput }])
      if (out instanceof AppError) throw out
      return out
    },
  },
  'write_off.create': {
    gate: { threshold: 'write_off_over' },
    async measure(trx, ctx, p, baseCurrency) {
      const body = p.body as unknown as CreateWriteOffInput
      const inv = await getInvoiceRow(trx, ctx, body.invoice, 'invoice')
      return { customer: inv.customer_id, amount: body.amount, currency: inv.currency, base_amount: toBaseAmount(body.amount, inv.currency, baseCurrency, inv.exchange_rate) }
    },
    async execute(trx, ctx, p) {
      const [out] = await createWriteOffs(trx, [{ ctx, input: p.body as unknown as CreateWriteOffInput }])
      if (out instanceof AppError) throw out
      return out
    },
  },
  'reversal.create': {
    gate: { threshold: 'reversal_over' },
    measure: (trx, ctx, p, baseCurrency) => measureTxn(trx, ctx, params(p).id, (p.body as unknown as ReverseTransactionInput).amount, undefined, baseCurrency),
    execute: (trx, ctx, p) => reverseTransactionById(trx, ctx, params(p).id, p.body as unknown as ReverseTransactionInput),
  },
  'invoice.void': {
    gate: { threshold: 'reversal_over' },
    async measure(trx, ctx, p, baseCurrency) {
      const inv = await getInvoiceRow(trx, ctx, params(p).id, 'id')
      const txn = await documentTxn(trx, ctx, inv.id)
      const amount = txn ? remaining(txn) : 0
      return { customer: inv.customer_id, amount, currency: inv.currency, base_amount: toBaseAmount(amount, inv.currency, baseCurrency, inv.exchange_rate) }
    },
    execute: (trx, ctx, p) => voidInvoice(trx, ctx, params(p).id, p.body as unknown as VoidInput),
  },
  'payment.void': {
    gate: { threshold: 'reversal_over' },
    async measure(trx, ctx, p, baseCurrency) {
      const pay = await getPaymentRow(trx, ctx, params(p).id, 'id')
      const txn = await documentTxn(trx, ctx, pay.id)
      const amount = txn ? remaining(txn) : 0
      return { customer: pay.customer_id, amount, currency: pay.currency, base_amount: toBaseAmount(amount, pay.currency, baseCurrency, pay.exchange_rate) }
    },
    execute: (trx, ctx, p) => voidPayment(trx, ctx, params(p).id, p.body as unknown as VoidInput),
  },
  'reconciliation.repair': {
    gate: { switch: 'repair' },
    // A repair moves no money of its own: it rebuilds caches from the ledger.
    measure: async (_trx, _ctx, _p, baseCurrency) => ({ customer: null, amount: 0, currency: baseCurrency, base_amount: 0 }),
    execute: (trx, ctx, p) => repairRun(trx, ctx, params(p).id, String(p.body.reason)),
  },
}

/**
 * The tenant's threshold for the action, in base minor units: null, the action never waits; 0
 * with `>` below would still let a zero amount through, so a switched-on action answers -1 (every
 * request waits).
 */
export async function approvalThreshold(trx: Trx, ctx: RequestContext, action: ApprovalActionName): Promise<number | null> {
  const settings = await approvalSettings(trx, ctx)
  const gate = APPROVAL_ACTIONS[action].gate
  if ('switch' in gate) return settings[gate.switch] ? -1 : null
  return settings[gate.threshold]
}

/** Whether this request is over `limit` (its amount in base minor units; reads only). */
export async function overThreshold(trx: Trx, ctx: RequestContext, action: ApprovalActionName, payload: ApprovalPayload, limit: number): Promise<boolean> {
  const { base_currency } = await ledgerContext(trx, ctx)
  return (await APPROVAL_ACTIONS[action].measure(trx, ctx, payload, base_currency)).base_amount > limit
}

/** Whether this request must wait for approval: its base amount is over the tenant's threshold (none by default). */
export async function approvalNeeded(trx: Trx, ctx: RequestContext, action: ApprovalActionName, payload: ApprovalPayload): Promise<boolean> {
  const limit = await approvalThreshold(trx, ctx, action)
  return limit !== null && overThreshold(trx, ctx, action, payload, limit)
}

function auditAfter(v: ApprovalView) {
  return { customer: v.customer, action: v.action, status: v.status, amount: v.amount, currency: v.currency, base_amount: v.base_amount, requested_by: v.requested_by, requested_user: v.requested_user }
}

/** Holds the request: nothing is posted. Audited and announced (`approval_request.created`). */
export async function requestApproval(trx: Trx, ctx: RequestContext, action: ApprovalActionName, payload: ApprovalPayload): Promise<ApprovalView> {
  const { base_currency } = await ledgerContext(trx, ctx)
  const m = await APPROVAL_ACTIONS[action].measure(trx, ctx, payload, base_currency)
  const view = await insertApprovalRequest(trx, ctx, { action, customer_id: m.customer, amount: m.amount, currency: m.currency, base_amount: m.base_amount, payload })
  await recordAudit(trx, ctx, { action: 'approval_request.created', entity_type: 'approval_request', entity_id: view.id, after: { ...auditAfter(view), payload }, reason: typeof payload.body.reason === 'string' ? payload.body.reason : null })
  await emitEvent(trx, ctx, 'approval_request.created', view)
  return view
}

/** A decision needs a pending, unexpired request (under its row lock). */
function assertPending(v: ApprovalView): void {
  if (v.status === 'expired') throw new AppError('approval_expired', `Approval request ${v.id} expired at ${v.expires_at}.`, { param: 'id' })
  if (v.status !== 'pending') throw new AppError('approval_not_pending', `Approval request ${v.id} is ${v.status}.`, { param: 'id', details: { status: v.status } })
}

/**
 * Approves and runs the held action, exactly once: the request row is locked first, so concurrent
 * approvals queue and all but the first find it decided (409 `approval_not_pending`). The
 * requester (same key, or another key of the same `user`) may not approve (403 `self_approval`).
 * The action runs as the approver; its answer is stored as `result`. When the action is refused
 * (an AppError, raised before it writes anything: e.g. the credit was spent meanwhile) the request
 * becomes `failed` with that error, and nothing is posted.
 */
export async function approveRequest(trx: Trx, ctx: RequestContext, id: string, input: { reason?: string }): Promise<ApprovalView> {
  const req = await lockApprovalRequest(trx, ctx, id)
  assertPending(req)
  if (req.requested_by === ctx.keyId || (ctx.user !== null && req.requested_user === ctx.user)) {
    throw new AppError('self_approval', 'The requester cannot approve its own request: another key (and another user) must.', { param: 'id' })
  }
  let decided: ApprovalView
  try {
    const result = await APPROVAL_ACTIONS[req.action].execute(trx, ctx, req.payload)
    decided = await decideApprovalRequest(trx, ctx, id, { status: 'approved', reason: input.reason ?? null, result })
  } catch (err) {
    if (!(err instanceof AppError)) throw err
    const error = { code: err.code, message: err.message, ...(err.param ? { param: err.param } : {}) }
    decided = await decideApprovalRequest(trx, ctx, id, { status: 'failed', reason: input.reason ?? null, error })
  }
  const verb = decided.status === 'approved' ? 'approved' : 'failed'
  await recordAudit(trx, ctx, {
    action: `approval_request.${verb}`,
    entity_type: 'approval_request',
    entity_id: id,
    before: auditAfter(req),
    after: { ...auditAfter(decided), decided_by: decided.decided_by, error: decided.error },
    reason: input.reason ?? null,
  })
  await emitEvent(trx, ctx, `approval_request.${verb}`, decided)
  return decided
}

/** Rejects a pending request (any `approvals.approve` holder, the requester included: a withdrawal). */
export async function rejectRequest(trx: Trx, ctx: RequestContext, id: string, input: { reason: string }): Promise<ApprovalView> {
  const req = await lockApprovalRequest(trx, ctx, id)
  assertPending(req)
  const decided = await decideApprovalRequest(trx, ctx, id, { status: 'rejected', reason: input.reason })
  await recordAudit(trx, ctx, { action: 'approval_request.rejected', entity_type: 'approval_request', entity_id: id, before: auditAfter(req), after: auditAfter(decided), reason: input.reason })
  await emitEvent(trx, ctx, 'approval_request.rejected', decided)
  return decided
}

/** The error a failed approval answers (its stored error, as the action raised it). */
export function failedApprovalError(v: ApprovalView): AppError | null {
  if (v.status !== 'failed' || !v.error) return null
  const code = (Object.hasOwn(CATALOG, v.error.code) ? v.error.code : 'invalid_state') as ErrorCode
  return new AppError(code, v.error.message, { param: v.error.param, details: { approval_request: v.id } })
}

import { can } from '../kernel/permissions'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import type { Plan } from './plan'
import type { CustomerState } from './engine'

/**
 * The limit in force on `today`: a temporary increase until its expiry date (inclusive), else the
 * customer's credit limit; null means no limit.
 */
export function effectiveCreditLimit(customer: CustomerState, today: string): number | null {
  if (customer.credit_limit === null) return null
  const temporary = customer.temporary_credit_limit
  const active = temporary !== null && customer.temporary_credit_limit_expires_on !== null && today <= customer.temporary_credit_limit_expires_on
  return active ? Math.max(customer.credit_limit, temporary) : customer.credit_limit
}

/**
 * Credit at invoice and sale time: exposure = current balance + the new document. Above the limit
 * the document is refused (`credit_limit_exceeded`); a suspended customer (`customer_suspended`,
 * unless its `suspension_override_until` stands) or one on credit hold (`credit_hold`) takes no new
 * credit. A caller whose role holds `credit.override` passes any of these with
 * `credit_override: {reason}`, audited (in the plan) with its reason. A sale paid in full at the
 * till (`paidInFull`) is no credit: suspension and hold do not stop it.
 */
export function checkCredit(
  plan: Plan,
  ctx: RequestContext,
  customer: CustomerState,
  amount: number,
  override: { reason: string } | undefined,
  document: { type: string; id: string },
  today: string,
  opts: { paidInFull?: boolean } = {},
): void {
  if (override && !can(ctx.access, 'credit.override')) {
    throw new AppError('permission_denied', `The '${ctx.role}' role lacks the 'credit.override' permission.`, { param: 'credit_override' })
  }
  const exposure = customer.current_balance + amount
  const limit = effectiveCreditLimit(customer, today)
  const overLimit = limit !== null && exposure > limit
  const overridden = customer.suspension_override_until !== null && customer.suspension_override_until !== undefined && today <= customer.suspension_override_until
  const suspended = customer.status === 'suspended' && !overridden && !opts.paidInFull
  const onHold = customer.credit_hold === true && !opts.paidInFull
  if (!overLimit && !suspended && !onHold) return
  if (!override) {
    if (suspended) throw new AppError('customer_suspended', `Customer '${customer.id}' is suspended.`, { param: 'customer' })
    if (onHold) throw new AppError('credit_hold', `Customer '${customer.id}' is on credit hold.`, { param: 'customer' })
    throw new AppError('credit_limit_exceeded', `Exposure ${exposure} would exceed the credit limit ${limit}.`, {
      param: 'customer',
      details: { credit_limit: limit, current_balance: customer.current_balance, amount, exposure },
    })
  }
  plan.audit(ctx, {
    action: 'credit_limit.overridden',
    entity_type: document.type,
    entity_id: document.id,
    after: { customer: customer.id, credit_limit: limit, exposure, suspended, credit_hold: onHold },
    reason: override.reason,
  })
}

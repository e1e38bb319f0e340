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
 * Credit limit at invoice and sale time: exposure = current balance + the new document. Above the
 * limit the document is refused, unless the caller passes `credit_override: {reason}` and its role
 * holds the override permission; the override is audited (in the plan) with its reason. Suspended
 * customers take no new credit without an override either.
 */
export function checkCredit(
  plan: Plan,
  ctx: RequestContext,
  customer: CustomerState,
  amount: number,
  override: { reason: string } | undefined,
  document: { type: string; id: string },
  today: string,
): void {
  if (override && !can(ctx.access, 'credit.override')) {
    throw new AppError('permission_denied', `The '${ctx.role}' role lacks the 'credit.override' permission.`, { param: 'credit_override' })
  }
  const exposure = customer.current_balance + amount
  const limit = effectiveCreditLimit(customer, today)
  const overLimit = limit !== null && exposure > limit
  const suspended = customer.status === 'suspended'
  if (!overLimit && !suspended) return
  if (!override) {
    if (suspended) throw new AppError('customer_inactive', `Customer '${customer.id}' is suspended.`, { param: 'customer' })
    throw new AppError('credit_limit_exceeded', `Exposure ${exposure} would exceed the credit limit ${limit}.`, {
      param: 'customer',
      details: { credit_limit: limit, current_balance: customer.current_balance, amount, exposure },
    })
  }
  plan.audit(ctx, {
    action: 'credit_limit.overridden',
    entity_type: document.type,
    entity_id: document.id,
    after: { customer: customer.id, credit_limit: limit, exposure, suspended },
    reason: override.reason,
  })
}

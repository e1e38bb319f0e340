import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'

/**
 * Erasure of a customer's personal data from the mutable message stores (shared tables of
 * migration 20261216000010): a notification's recipient address, template data and rendered
 * subject and body, a communication's free-text summary, a stored statement PDF (names and
 * addresses), and the files uploaded as dispute evidence (receipts, letters, photos: personal by
 * nature; anonymization waits until no dispute is open, so none is still needed). Types, statuses,
 * dates, amounts and links stay, so the collection and dispute history still counts. One statement
 * per table.
 *
 * The notifications and communications modules (core/notifications, core/communications) own these
 * tables; until they expose an erase step, the privacy module holds this one write on them.
 */
export const ERASED_SUMMARY = '[erased]'

export async function eraseCustomerMessages(trx: Trx, ctx: RequestContext, customerId: string): Promise<{ notifications: number; communications: number; evidence: number }> {
  const { rows } = await trx.raw(
    `with n as (
       update notifications set recipient = null, data = '{}'::jsonb, last_error = null, subject = null, body = null, updated_at = now()
        where tenant_id = :tenant and customer_id = :customer returning 1),
     s as (
       update statements set pdf = null, error = null
        where tenant_id = :tenant and customer_id = :customer returning 1),
     c as (
       update communications set summary = :summary
        where tenant_id = :tenant and customer_id = :customer returning 1),
     e as (
       delete from dispute_evidence
        where tenant_id = :tenant and customer_id = :customer returning 1)
     select (select count(*) from n)::int as notifications, (select count(*) from c)::int as communications, (select count(*) from e)::int as evidence`,
    { tenant: ctx.tenantId, customer: customerId, summary: ERASED_SUMMARY },
  )
  return rows[0]
}

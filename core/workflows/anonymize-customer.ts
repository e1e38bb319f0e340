import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { recordAudit } from '../audit/service'
import { emitEvent } from '../outbox/outbox'
import { destroyCustomerKey } from '../privacy/keys'
import { eraseCustomerMessages } from '../privacy/erasure'
import { assertNoOpenDocuments, blankCustomer, lockCustomerForErasure } from '../customers/service'
import { openDisputeCount } from '../disputes/model'

/**
 * Anonymization (API.md "Customers: merge, duplicates, privacy"; ARCHITECTURE §7): erases the
 * customer's personal data for good, in one transaction.
 *
 * lock: the balance row, then the customer (the posting engine's order), so no posting lands between
 * the checks and the erasure. plan: refused while the balance or an open document is not zero
 * (`customer_has_balance`) or a dispute is open or under review (`dispute_open`); a second
 * anonymization is refused (`customer_inactive`). write: the data key is destroyed (everything
 * sealed under it, in the audit log, event payloads and stored responses, reads back null from now
 * on), the customer row is blanked, notifications and communications lose their personal text.
 * Amounts, the ledger, the sub-ledger and the audit chain are untouched. Audited and announced
 * (`customer.anonymized`) without any personal data.
 */
export async function anonymizeCustomer(trx: Trx, ctx: RequestContext, id: string, input: { reason: string }) {
  const customer = await lockCustomerForErasure(trx, ctx, id)
  if (customer.anonymized_at) throw new AppError('customer_inactive', 'The customer is already anonymized.', { param: 'id' })
  await assertNoOpenDocuments(trx, ctx, id)
  if ((await openDisputeCount(trx, ctx, id)) > 0) throw new AppError('dispute_open', 'Resolve the open disputes of the customer before anonymizing it.', { param: 'id' })

  await destroyCustomerKey(trx, ctx.tenantId, id)
  const erased = await eraseCustomerMessages(trx, ctx, id)
  const after = await blankCustomer(trx, ctx, id)
  await recordAudit(trx, ctx, {
    action: 'customer.anonymized',
    entity_type: 'customer',
    entity_id: id,
    before: { status: customer.status, anonymized_at: null },
    after: { status: after.status, anonymized_at: after.anonymized_at, data_key: 'destroyed', notifications_erased: erased.notifications, communications_erased: erased.communications, evidence_erased: erased.evidence },
    reason: input.reason,
  })
  await emitEvent(trx, ctx, 'customer.anonymized', after)
  return after
}

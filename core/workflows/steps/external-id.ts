import type { Trx } from '../../kernel/db/knex'
import type { RequestContext } from '../../kernel/context'
import { AppError } from '../../kernel/errors'
import type { Plan } from '../../ledger/plan'

export type DocumentTable = 'invoices' | 'payments' | 'credit_notes' | 'sales'

/**
 * Claims a new document's external_id in the plan: refused (409 `external_id_taken`) when a
 * document of the table already has it, or an earlier request of the same plan claimed it. The
 * partial unique index (`<table>_external_id_key`) still refuses a concurrent transaction's.
 */
export async function claimExternalId(trx: Trx, plan: Plan, ctx: RequestContext, table: DocumentTable, externalId: string | null, owner: string): Promise<void> {
  if (externalId === null) return
  const taken = () => new AppError('external_id_taken', `A document of this type with external_id '${externalId}' already exists.`, { param: 'external_id' })
  if (plan.held(`${table}_external_id`, externalId)) throw taken()
  if (await trx(table).where({ tenant_id: ctx.tenantId, external_id: externalId }).first('id')) throw taken()
  plan.hold(`${table}_external_id`, externalId, { claimed: true }, owner)
}

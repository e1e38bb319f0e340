import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import type { Metadata } from '../kernel/metadata'
import { recordAudit } from '../audit/service'
import type { DocumentTable } from './steps/external-id'

const ENTITY: Record<DocumentTable, string> = { invoices: 'invoice', payments: 'payment', credit_notes: 'credit_note', sales: 'sale' }

/**
 * Workflow: replace a document's metadata (PATCH /v1/<documents>/:id). Metadata is the merchant's
 * own annotation, not accounting: the document and its postings are untouched. Audited with before
 * and after; no change writes nothing. The caller reads the document's view afterwards.
 */
export async function setDocumentMetadata(trx: Trx, ctx: RequestContext, table: DocumentTable, id: string, metadata: Metadata): Promise<void> {
  const row: { metadata: Metadata } | undefined = await trx(table).where({ tenant_id: ctx.tenantId, id }).forUpdate().first('metadata')
  if (!row) throw notFound(ENTITY[table].replace('_', ' '), id, 'id')
  if (JSON.stringify(row.metadata) === JSON.stringify(metadata)) return
  await trx(table).where({ tenant_id: ctx.tenantId, id }).update({ metadata: JSON.stringify(metadata) })
  await recordAudit(trx, ctx, { action: `${ENTITY[table]}.metadata_updated`, entity_type: ENTITY[table], entity_id: id, before: { metadata: row.metadata }, after: { metadata } })
}

import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import type { MetadataPatch } from '../kernel/metadata'
import { setDocumentMetadata } from '../workflows/document-metadata'
import type { DocumentTable } from '../workflows/steps/external-id'
import { inTenant } from './tx'

/**
 * The handler of `PATCH /v1/<documents>/:id {metadata}`: the document is read first through its
 * view (so a key that cannot see it gets 404), its metadata replaced, and the view returned.
 */
export function metadataPatchHandler(table: DocumentTable, view: (trx: Trx, ctx: RequestContext, id: string) => Promise<unknown>) {
  return (req: FastifyRequest<{ Params: { id: string }; Body: MetadataPatch }>, reply: FastifyReply) =>
    inTenant(req, reply, async (trx, ctx) => {
      await view(trx, ctx, req.params.id)
      await setDocumentMetadata(trx, ctx, table, req.params.id, req.body.metadata)
      return view(trx, ctx, req.params.id)
    })
}

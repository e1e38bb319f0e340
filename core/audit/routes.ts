import type { FastifyInstance } from 'fastify'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { inTenant } from '../http/tx'
import { applyRange, assertOneCursor, listQueryProperties, listSchema, page, type ListQuery } from '../kernel/pagination'
import { AppError } from '../kernel/errors'
import { idPattern } from '../kernel/ids'
import { verifyAuditChain } from './service'
import { openValues } from '../privacy/sealing'

const errors = { '4xx': { $ref: 'Error#' } }

interface AuditQuery extends ListQuery {
  entity?: string
  entity_type?: string
  actor?: string
  action?: string
}

interface AuditRow {
  seq: number
  lane: number
  lane_seq: number
  id: string
  actor: string | null
  action: string
  entity_type: string
  entity_id: string | null
  before: unknown
  after: unknown
  reason: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  created_at: Date
  prev_hash: string
  hash: string
}

const auditEntrySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['audit_log_entry'] },
    seq: { type: 'integer', description: 'Position in the tenant audit log (increasing).' },
    lane: { type: 'integer', description: 'Chain lane (by entity) of the tenant hash chain.' },
    lane_seq: { type: 'integer', description: 'Contiguous position within the lane; prev_hash is the hash of the previous entry of the lane.' },
    actor: { type: ['string', 'null'], description: 'API key id, or platform/system.' },
    actor_user: { type: ['string', 'null'], description: 'The staff member (the acting key\'s `user` label), when the key has one.' },
    action: { type: 'string' },
    entity_type: { type: 'string' },
    entity: { type: ['string', 'null'] },
    before: { description: 'Snapshot before the change (customer PII masked for roles without read_pii).' },
    after: { description: 'Snapshot after the change (customer PII masked for roles without read_pii).' },
    reason: { type: ['string', 'null'] },
    ip: { type: ['string', 'null'] },
    user_agent: { type: ['string', 'null'] },
    request_id: { type: ['string', 'null'] },
    created: { type: 'string' },
    hash: { type: 'string' },
    prev_hash: { type: 'string' },
  },
  required: ['id', 'object', 'seq', 'lane', 'lane_seq', 'actor', 'action', 'entity_type', 'entity', 'before', 'after', 'reason', 'ip', 'user_agent', 'request_id', 'created', 'hash', 'prev_hash'],
}

const verificationSchema = {
  type: 'object',
  properties: {
    ok: { type: 'boolean' },
    checked: { type: 'integer' },
    first_invalid_seq: { type: ['integer', 'null'] },
    problem: { type: ['string', 'null'], enum: ['hash_mismatch', 'broken_link', 'gap', null] },
  },
  required: ['ok', 'checked', 'first_invalid_seq', 'problem'],
}

const filterText = { type: 'string', minLength: 1, maxLength: 200 }

export async function auditRoutes(app: FastifyInstance): Promise<void> {
  app.get<{ Querystring: AuditQuery }>(
    '/audit-log',
    {
      schema: {
        operationId: 'listAuditLog',
        tags: ['audit'],
        summary: 'List audit log entries, newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...listQueryProperties,
            starting_after: { type: 'string', pattern: idPattern('aud') },
            entity: { ...filterText, description: 'Entity id, e.g. cus_…' },
            entity_type: filterText,
            actor: filterText,
            action: filterText,
          },
        },
        response: { 200: listSchema(auditEntrySchema), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => listAuditLog(trx, ctx, req.query)),
  )

  app.get(
    '/audit-log/verify',
    {
      schema: {
        operationId: 'verifyAuditLog',
        tags: ['audit'],
        summary: "Recompute the tenant's audit hash chain and report the first invalid row",
        response: { 200: verificationSchema, ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => verifyAuditChain(trx, ctx.tenantId)),
  )
}

// The read side of the audit log. It sits here rather than in service.ts (the kernel's write side)
// only to keep ownership of files simple; it is a service function all the same.

/**
 * Audit rows hold whole snapshots; the fields a reader may not view (personal data, balances) are
 * removed from them on the way out with every other response (core/http/fields.ts).
 */
export function auditEntryView(r: AuditRow & { actor_user?: string | null }) {
  const { before, after } = r
  return {
    id: r.id,
    object: 'audit_log_entry' as const,
    seq: r.seq,
    lane: r.lane,
    lane_seq: r.lane_seq,
    actor: r.actor,
    actor_user: r.actor_user ?? null,
    action: r.action,
    entity_type: r.entity_type,
    entity: r.entity_id,
    before,
    after,
    reason: r.reason,
    ip: r.ip,
    user_agent: r.user_agent,
    request_id: r.request_id,
    created: r.created_at.toISOString(),
    hash: r.hash,
    prev_hash: r.prev_hash,
  }
}

/** Newest first by chain position; the cursor is an entry id, translated to its `seq`. */
export async function listAuditLog(trx: Trx, ctx: RequestContext, q: AuditQuery) {
  const limit = q.limit ?? 20
  const query = trx('audit_log').where({ tenant_id: ctx.tenantId })
  if (q.entity) query.where('entity_id', q.entity)
  if (q.entity_type) query.where('entity_type', q.entity_type)
  if (q.actor) query.where('actor', q.actor)
  if (q.action) query.where('action', q.action)
  assertOneCursor(q)
  applyRange(query, q, 'created', 'audit_log.created_at', 'instant')
  const cursorId = q.starting_after ?? q.ending_before
  if (cursorId) {
    const cursor = await trx('audit_log').where({ tenant_id: ctx.tenantId, id: cursorId }).first('seq')
    if (!cursor) throw new AppError('invalid_cursor', undefined, { param: q.starting_after ? 'starting_after' : 'ending_before' })
    query.where('seq', q.starting_after ? '<' : '>', cursor.seq)
  }
  // The staff member behind the acting key (its `user` label), so the log names a person.
  query.select('audit_log.*', trx.raw(`(select k.user_label from api_keys k where k.tenant_id = audit_log.tenant_id and k.id = audit_log.actor) as actor_user`))
  const rows: (AuditRow & { actor_user: string | null })[] = await query.orderBy('seq', q.ending_before ? 'asc' : 'desc').limit(limit + 1)
  const shown = rows.slice(0, limit)
  if (q.ending_before) shown.reverse()
  await openAuditRows(trx, ctx.tenantId, shown)
  return page(shown.map(auditEntryView), rows.length > limit)
}

/** Opens the sealed personal data of audit rows in place (null where the customer's key is destroyed). */
export async function openAuditRows(trx: Trx, tenantId: string, rows: { before: unknown; after: unknown }[]): Promise<void> {
  const snaps = await openValues(trx, tenantId, rows.flatMap((r) => [r.before, r.after]))
  rows.forEach((r, i) => {
    r.before = snaps[2 * i]
    r.after = snaps[2 * i + 1]
  })
}

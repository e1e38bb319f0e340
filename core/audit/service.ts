import { createHash } from 'node:crypto'
import { prepared, type Trx } from '../db/knex'
import { beforeCommit } from '../db/tenant'
import type { RequestContext } from '../http/context'
import { newId } from '../ids'

export interface AuditEntry {
  action: string // e.g. customer.created, api_key.revoked, period.reopened
  entity_type: string
  entity_id: string | null
  before?: unknown
  after?: unknown
  reason?: string | null
}

const AUDIT_LANES = 64
const pending = new WeakMap<Trx, Record<string, unknown>[]>()

/**
 * Appends one audit row to the caller's transaction. Rows are written at the end of the
 * transaction, right before COMMIT, all in the lane of the transaction's first entity, so the lane's
 * chain lock is held only for those inserts and the commit. The ledger's deferred balance check
 * (one indexed query per journal entry) runs inside that window at COMMIT: forcing it earlier with
 * `set constraints all immediate` cost a round trip on every posting to save far less lane time.
 * The insert trigger assigns positions and hashes.
 */
export async function recordAudit(trx: Trx, ctx: RequestContext, entry: AuditEntry): Promise<void> {
  let rows = pending.get(trx)
  if (!rows) {
    pending.set(trx, (rows = []))
    beforeCommit(trx, async () => {
      const lane = parseInt(createHash('sha1').update(String(rows![0].entity_id ?? rows![0].id)).digest('hex').slice(0, 8), 16) % AUDIT_LANES
      // One statement for all of the transaction's rows; the chain trigger runs per row, in order.
      await prepared(
        trx,
        `insert into audit_log (tenant_id, seq, lane, lane_seq, id, actor, action, entity_type, entity_id, before, after, reason, ip, user_agent, request_id, prev_hash, hash)
         select a.tenant_id, 0, :lane, 0, a.id, a.actor, a.action, a.entity_type, a.entity_id, a.before, a.after, a.reason, a.ip, a.user_agent, a.request_id, '', ''
           from jsonb_to_recordset(:rows::jsonb) as a(tenant_id uuid, id text, actor text, action text, entity_type text, entity_id text,
                before jsonb, after jsonb, reason text, ip text, user_agent text, request_id text)`,
        { lane, rows: JSON.stringify(rows) },
      )
    })
  }
  rows.push({
    tenant_id: ctx.tenantId,
    id: newId('aud'),
    actor: ctx.keyId ?? ctx.role,
    action: entry.action,
    entity_type: entry.entity_type,
    entity_id: entry.entity_id,
    before: entry.before === undefined ? null : entry.before,
    after: entry.after === undefined ? null : entry.after,
    reason: entry.reason ?? null,
    ip: ctx.ip,
    user_agent: ctx.userAgent,
    request_id: ctx.requestId,
  })
}

export interface ChainVerification {
  ok: boolean
  checked: number
  /** First row whose hash, link or position does not match: the tampered (or first missing) row. */
  first_invalid_seq: number | null
  problem: 'hash_mismatch' | 'broken_link' | 'gap' | null
}

/**
 * Recomputes every hash of the tenant's chain in SQL with the same function the insert trigger
 * uses, and checks each row links to its predecessor in its lane without gaps.
 */
export async function verifyAuditChain(trx: Trx, tenantId: string): Promise<ChainVerification> {
  const { rows } = await trx.raw(
    `with c as (
       select a.seq, a.lane_seq, a.hash, a.prev_hash,
              audit_row_hash(a.prev_hash, a) as expected,
              lag(a.hash) over w as prev_row_hash,
              lag(a.lane_seq) over w as prev_lane_seq
         from audit_log a where a.tenant_id = ?
       window w as (partition by a.lane order by a.lane_seq)
     )
     select (select count(*) from c)::int as checked,
            (select min(seq) from c where hash <> expected) as bad_hash,
            (select min(seq) from c where prev_hash <> coalesce(prev_row_hash, '')) as bad_link,
            (select min(seq) from c where lane_seq <> coalesce(prev_lane_seq, 0) + 1) as gap`,
    [tenantId],
  )
  const r = rows[0]
  const candidates: [number | null, ChainVerification['problem']][] = [
    [r.bad_hash, 'hash_mismatch'],
    [r.bad_link, 'broken_link'],
    [r.gap, 'gap'],
  ]
  let first: [number, ChainVerification['problem']] | null = null
  for (const [seq, problem] of candidates) {
    if (seq !== null && (first === null || Number(seq) < first[0])) first = [Number(seq), problem]
  }
  return { ok: first === null, checked: r.checked, first_invalid_seq: first?.[0] ?? null, problem: first?.[1] ?? null }
}

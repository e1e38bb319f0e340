import { createHash } from 'node:crypto'
import { runWrites, type Trx, type Write } from '../kernel/db/knex'
import { defineTable, insertWrite } from '../kernel/db/table'
import { beforeCommit } from '../kernel/db/tenant'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { customerOf } from '../outbox/outbox'
import { sealValues } from '../privacy/sealing'

export interface AuditEntry {
  action: string // e.g. customer.created, api_key.revoked, period.reopened
  entity_type: string
  entity_id: string | null
  before?: unknown
  after?: unknown
  reason?: string | null
}

const AUDIT_LANES = 64

interface AuditInsert {
  seq: number
  lane: number
  lane_seq: number
  id: string
  actor: string
  action: string
  entity_type: string
  entity_id: string | null
  customer_id: string | null
  before: unknown
  after: unknown
  reason: string | null
  ip: string | null
  user_agent: string | null
  request_id: string | null
  prev_hash: string
  hash: string
}

const auditTable = defineTable<AuditInsert>(
  'audit_log',
  {
    seq: 'bigint', lane: 'smallint', lane_seq: 'bigint', id: 'text', actor: 'text', action: 'text', entity_type: 'text', entity_id: 'text', customer_id: 'text',
    before: 'jsonb', after: 'jsonb', reason: 'text', ip: 'text', user_agent: 'text', request_id: 'text', prev_hash: 'text', hash: 'text',
  },
  ['id'],
)

interface PendingAudit {
  rows: Record<string, unknown>[]
  /** Chosen at the transaction's first audit write; every later row goes to the same lane. */
  lane: number | null
}

const pending = new WeakMap<Trx, PendingAudit>()

/**
 * Appends one audit row to the caller's transaction. Rows are written at the end of the
 * transaction, right before COMMIT (or with its last statement, see auditWrites), all in the lane
 * of the transaction's first entity, so the lane's chain lock is held only for those inserts and
 * the commit. The ledger's deferred balance check (one indexed query per journal entry) runs inside
 * that window at COMMIT: forcing it earlier with `set constraints all immediate` cost a round trip
 * on every posting to save far less lane time. The insert trigger assigns positions and hashes.
 */
/** Rows recorded and not yet written in the transaction (to resolve their keys with a plan's). */
export function pendingAuditSnapshots(trx: Trx): unknown[] {
  return (pending.get(trx)?.rows ?? []).flatMap((r) => [r.before, r.after])
}

export async function recordAudit(trx: Trx, ctx: RequestContext, entry: AuditEntry): Promise<void> {
  let p = pending.get(trx)
  if (!p) {
    pending.set(trx, (p = { rows: [], lane: null }))
    beforeCommit(trx, async () => runWrites(trx, [await auditWrites(trx)]))
  }
  p.rows.push({
    tenant_id: ctx.tenantId,
    id: newId('aud'),
    actor: ctx.keyId ?? ctx.role,
    action: entry.action,
    entity_type: entry.entity_type,
    entity_id: entry.entity_id,
    customer_id: entry.entity_type === 'customer' ? entry.entity_id : (customerOf(entry.after) ?? customerOf(entry.before)),
    before: entry.before === undefined ? null : entry.before,
    after: entry.after === undefined ? null : entry.after,
    reason: entry.reason ?? null,
    ip: ctx.ip,
    user_agent: ctx.userAgent,
    request_id: ctx.requestId,
  })
}

/**
 * Takes the audit rows recorded so far in the transaction as a write for runWrites, so a posting
 * whose last statement writes everything can write them with it instead of in one more round trip
 * at commit. Rows recorded later are written at commit, in the same lane.
 */
export async function auditWrites(trx: Trx): Promise<Write | null> {
  const p = pending.get(trx)
  if (!p || !p.rows.length) return null
  const rows = p.rows.splice(0)
  // Snapshots are stored with the customers' personal data sealed (core/privacy/sealing.ts); the
  // chain hashes what is stored, so it verifies with or without the keys.
  const snaps = await sealValues(trx, String(rows[0].tenant_id), rows.flatMap((r) => [r.before, r.after]))
  rows.forEach((r, i) => {
    r.before = snaps[2 * i]
    r.after = snaps[2 * i + 1]
  })
  p.lane ??= parseInt(createHash('sha1').update(String(rows[0].entity_id ?? rows[0].id)).digest('hex').slice(0, 8), 16) % AUDIT_LANES
  // The chain trigger runs per row, in order, and sets the positions and hashes left at 0 and ''.
  const lane = p.lane
  return insertWrite(
    auditTable,
    String(rows[0].tenant_id),
    rows.map(({ tenant_id: _t, ...r }) => ({ ...(r as Omit<AuditInsert, 'seq' | 'lane' | 'lane_seq' | 'prev_hash' | 'hash'>), seq: 0, lane, lane_seq: 0, prev_hash: '', hash: '' })),
  )
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
    // Rows retention archived (archive.audit_log, whole older parts of each lane) are verified
    // with the live ones: one chain per lane across both places.
    `with src as (
       select a.seq, a.lane, a.lane_seq, a.hash, a.prev_hash, audit_row_hash(a.prev_hash, a) as expected
         from audit_log a where a.tenant_id = ?
       union all
       select a.seq, a.lane, a.lane_seq, a.hash, a.prev_hash, audit_row_hash(a.prev_hash, jsonb_populate_record(null::audit_log, to_jsonb(a)))
         from archive.audit_log a where a.tenant_id = ?
     ), c as (
       select a.seq, a.lane_seq, a.hash, a.prev_hash, a.expected,
              lag(a.hash) over w as prev_row_hash,
              lag(a.lane_seq) over w as prev_lane_seq
         from src a
       window w as (partition by a.lane order by a.lane_seq)
     )
     select (select count(*) from c)::int as checked,
            (select min(seq) from c where hash <> expected) as bad_hash,
            (select min(seq) from c where prev_hash <> coalesce(prev_row_hash, '')) as bad_link,
            (select min(seq) from c where lane_seq <> coalesce(prev_lane_seq, 0) + 1) as gap`,
    [tenantId, tenantId],
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

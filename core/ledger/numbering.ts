import knexFactory, { Knex } from 'knex'
import { sendUnnamedStatements, usesNamedStatements, type Trx } from '../kernel/db/knex'
import { withTenant } from '../kernel/db/tenant'
import type { RequestContext } from '../kernel/context'

/**
 * Per-tenant document numbers (INV-000042) without a tenant-wide lock held until commit.
 *
 * A transactional counter row would serialize every posting of a tenant behind one row lock until
 * its commit (~1 fsync each), capping a tenant at a few hundred invoices per second. Instead numbers
 * are reserved in blocks by a short autonomous transaction on a separate connection, like a
 * database sequence: unique and increasing per tenant and process, but a posting that fails after
 * taking its number, or a process that stops with part of a block unused, leaves a gap. Blocks
 * start at one number and grow only while a tenant posts fast, so a quiet tenant's numbering stays
 * gap-free in practice.
 *
 * The reservation commits synchronously, like any commit: its numbers are handed out as soon as it
 * returns, so it must survive a crash from then on. (An asynchronous commit was tried: a document's
 * own commit would flush it, but a crash before one did lost the reservation while this process kept
 * handing its numbers out, and the next reservation gave them again: a duplicate number. The
 * Postgres-crash test of test/faults.test.ts holds that window open.) A busy series reserves up to
 * 64 numbers at a time, ahead of need, so the flush costs it nothing per document.
 */
const MAX_BLOCK = 64
const GROW_WITHIN_MS = 1000

interface Block {
  next: number
  end: number
  size: number
  reservedAt: number
  /** The next block, reserved ahead while this one is used up. */
  following: Promise<Block | null> | null
}

const blocks = new Map<string, Block>()
const inflight = new Map<string, Promise<void>>()
const reservers = new Map<object, Knex>()

function reserverFor(trx: Trx): Knex {
  // Keyed by the knex config: each transaction has its own client object, the config is shared.
  const { config } = trx.client as unknown as { config: Knex.Config }
  let db = reservers.get(config)
  if (!db) {
    // Kept open while a tenant posts: opening a connection costs more than a whole reservation.
    db = knexFactory({ client: 'pg', connection: config.connection, pool: { min: 0, max: 2, idleTimeoutMillis: 60_000 } })
    // Same connection, same statement mode (unnamed behind PgBouncer: withTenant uses prepared()).
    if (!usesNamedStatements(trx)) sendUnnamedStatements(db)
    reservers.set(config, db)
  }
  return db
}

/** Closes the reservation connections (on shutdown). */
export async function closeNumbering(): Promise<void> {
  const dbs = [...reservers.values()]
  reservers.clear()
  await Promise.all(dbs.map((db) => db.destroy()))
}

/** Reserves a block of `size` numbers in a short autonomous transaction. */
async function reserveBlock(trx: Trx, tenantId: string, kind: string, size: number): Promise<Block> {
  const end = await withTenant(reserverFor(trx), tenantId, async (r) => {
    const { rows } = await r.raw(
      `insert into document_sequences (tenant_id, kind, next_value) values (:t, :k, 1 + :n)
       on conflict (tenant_id, kind) do update set next_value = document_sequences.next_value + :n
       returning next_value`,
      { t: tenantId, k: kind, n: size },
    )
    return Number(rows[0].next_value)
  })
  return { next: end - size, end, size, reservedAt: Date.now(), following: null }
}

async function reserve(trx: Trx, tenantId: string, kind: string, key: string): Promise<void> {
  const prev = blocks.get(key)
  const size = prev && Date.now() - prev.reservedAt < GROW_WITHIN_MS ? Math.min(prev.size * 2, MAX_BLOCK) : 1
  blocks.set(key, await reserveBlock(trx, tenantId, kind, size))
}

/** Next number of a per-tenant series, formatted `${prefix}-000042`. */
export async function nextNumber(trx: Trx, ctx: RequestContext, kind: string, prefix: string): Promise<string> {
  const key = `${ctx.tenantId}:${kind}`
  for (;;) {
    const b = blocks.get(key)
    if (b && b.next < b.end) {
      const n = b.next++
      // A busy series fetches its next block when half of this one is used, so postings do not
      // wait for the reservation's round trip. Best effort: a failed prefetch is retried on demand.
      if (b.size > 1 && b.end - b.next === b.size >> 1 && !b.following && !inflight.has(key)) {
        b.following = reserveBlock(trx, ctx.tenantId, kind, b.size).catch(() => null)
      }
      return `${prefix}-${String(n).padStart(6, '0')}`
    }
    const following = b?.following ? await b.following : null
    if (following && blocks.get(key) === b) {
      blocks.set(key, following)
      continue
    }
    let p = inflight.get(key)
    if (!p) {
      p = reserve(trx, ctx.tenantId, kind, key).finally(() => inflight.delete(key))
      inflight.set(key, p)
    }
    await p
  }
}

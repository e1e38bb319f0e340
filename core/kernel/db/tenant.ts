import { randomInt } from 'node:crypto'
import pg from 'pg'
import { transactionBeginningWith, type Db, type Trx } from './knex'

const RETRYABLE = new Set(['40001', '40P01'])
const MAX_ATTEMPTS = 6

/**
 * A key limited to its own customers: its owners (key id, user label). Row-level security then shows
 * the transaction only their customers and those customers' rows (migration 20261201000010).
 */
export interface TenantScope {
  owners?: readonly string[] | null
}

/**
 * The one way to open a tenant transaction: its first statement, sent with BEGIN in one round trip,
 * scopes row-level security to the tenant with a transaction-local setting (never a session SET,
 * which would leak across pooled connections), with the caller's row scope when it has one.
 * Deadlocks and serialization failures are retried with bounded, jittered backoff, so `fn` must be
 * free of side effects outside the transaction.
 */
export async function withTenant<T>(db: Db, tenantId: string, fn: (trx: Trx) => Promise<T>, scope: TenantScope = {}): Promise<T> {
  if (!isUuid(tenantId)) throw new Error('withTenant: tenantId must be a uuid')
  const owners = scope.owners ? scope.owners.join(',') : null
  if (owners !== null && (!scope.owners!.length || scope.owners!.some((o) => !o || o.includes(',')))) throw new Error('withTenant: bad owners')
  // Sent with BEGIN, in its round trip (values inlined: the tenant id is a checked uuid, the owners escaped).
  const scoping =
    owners === null
      ? `select set_config('app.tenant_id', '${tenantId}', true)`
      : `select set_config('app.tenant_id', '${tenantId}', true), set_config('app.owners', ${pg.escapeLiteral(owners)}, true)`
  for (let attempt = 1; ; attempt++) {
    try {
      return await transactionBeginningWith(db, scoping, async (trx) => {
        hooks.set(trx, [])
        const result = await fn(trx)
        for (const hook of hooks.get(trx)!) await hook()
        return result
      })
    } catch (err) {
      const code = (err as { code?: string }).code
      if (!code || !RETRYABLE.has(code) || attempt >= MAX_ATTEMPTS) throw err
      await new Promise((r) => setTimeout(r, randomInt(1, 5 * 2 ** attempt)))
    }
  }
}

const hooks = new WeakMap<Trx, (() => Promise<void>)[]>()

/**
 * Runs `hook` at the end of the tenant transaction, after its work and right before COMMIT (in
 * registration order). Used for writes that take a short tenant-scoped lock, such as the audit
 * chain, so the lock is held for as little as possible.
 */
export function beforeCommit(trx: Trx, hook: () => Promise<void>): void {
  const list = hooks.get(trx)
  if (!list) throw new Error('beforeCommit: not inside withTenant')
  list.push(hook)
}

/**
 * Runs `fn` once the transaction has committed (never when it rolls back): for side effects outside
 * the database, such as evicting a cache or enqueueing a job for rows the transaction wrote.
 * Failures are swallowed: the effect must be one a sweep or a TTL can make good.
 */
export function afterCommit(trx: Trx, fn: () => unknown): void {
  void trx.executionPromise.then(fn, () => undefined).catch(() => undefined)
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export function isUuid(s: string): boolean {
  return UUID_RE.test(s)
}

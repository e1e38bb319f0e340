import type { Db } from '../kernel/db/knex'

/**
 * The tenant directory (ids only, no RLS): how background work finds tenants, since the runtime
 * role sees a tenant's rows only inside that tenant's transaction. Rows are added by createTenant.
 */

export const DIRECTORY_PAGE = 500

export interface DirectoryRow {
  tenant_id: string
  created_at: Date
}

/** One page of the directory in tenant id order, after `after` (optionally only tenants created since). */
export async function tenantPage(db: Db, after: string | null, opts: { limit?: number; createdSince?: Date } = {}): Promise<DirectoryRow[]> {
  const q = db('tenant_directory').select('tenant_id', 'created_at').orderBy('tenant_id').limit(Math.min(opts.limit ?? DIRECTORY_PAGE, DIRECTORY_PAGE))
  if (after) q.where('tenant_id', '>', after)
  if (opts.createdSince) q.where('created_at', '>', opts.createdSince)
  return q
}

/**
 * Calls `fn` for every tenant, page by page, at most `concurrency` at a time. A failing tenant is
 * reported through `onError` and does not stop the others.
 */
export async function forEachTenant(
  db: Db,
  fn: (tenantId: string) => Promise<void>,
  opts: { concurrency?: number; createdSince?: Date; onError?: (tenantId: string, err: unknown) => void; stop?: () => boolean } = {},
): Promise<number> {
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 4, 32))
  let after: string | null = null
  let seen = 0
  for (;;) {
    if (opts.stop?.()) return seen
    const rows: DirectoryRow[] = await tenantPage(db, after, { createdSince: opts.createdSince })
    if (!rows.length) return seen
    after = rows[rows.length - 1].tenant_id
    seen += rows.length
    let next = 0
    await Promise.all(
      Array.from({ length: Math.min(concurrency, rows.length) }, async () => {
        while (next < rows.length && !opts.stop?.()) {
          const { tenant_id } = rows[next++]
          await fn(tenant_id).catch((err) => opts.onError?.(tenant_id, err))
        }
      }),
    )
  }
}

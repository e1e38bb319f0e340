import type { Logger } from 'pino'
import type { Db } from '../kernel/db/knex'
import { forEachTenant } from './tenants'

/**
 * Periodic per-tenant sweeps run by every worker: the safety net for work whose job Redis lost
 * (e.g. reconciliation runs still queued, webhook deliveries due). A sweep must be idempotent and
 * cheap per tenant (one indexed query); it typically re-enqueues with a stable jobId. A module
 * exports its sweeps; the worker runs the ones its registry lists (core/jobs/registry.ts).
 *
 *   export const requeueSweep = defineTenantSweep({ name: 'reconciliation-requeue', everyMs: 60_000, run: async (db, tenantId) => { ... } })
 */
export interface TenantSweep {
  name: string
  everyMs: number
  /** `db` is the runtime-role database (RLS applies: open a tenant transaction). */
  run(db: Db, tenantId: string): Promise<void>
}

/** Validates a sweep definition (registered nowhere). */
export function defineTenantSweep(s: TenantSweep): TenantSweep {
  if (!Number.isInteger(s.everyMs) || s.everyMs < 100) throw new Error(`sweep '${s.name}': everyMs must be ≥ 100`)
  return s
}

export function startSweeps({ db, log, sweeps, everyMsOverride }: { db: Db; log: Logger; sweeps: readonly TenantSweep[]; everyMsOverride?: number }): { stop(): Promise<void> } {
  const names = new Set<string>()
  for (const s of sweeps) {
    if (names.has(s.name)) throw new Error(`sweep '${s.name}' is already defined`)
    names.add(s.name)
  }
  let stopped = false
  const running = new Set<Promise<unknown>>()
  const timers = sweeps.map((s) => {
    let busy = false
    const tick = () => {
      if (busy || stopped) return
      busy = true
      const p = forEachTenant(db, (tenantId) => s.run(db, tenantId), { concurrency: 2, stop: () => stopped, onError: (tenantId, err) => log.warn({ err, tenantId, sweep: s.name }, 'sweep failed for a tenant') })
        .catch((err) => log.error({ err, sweep: s.name }, 'sweep failed'))
        .finally(() => {
          busy = false
          running.delete(p)
        })
      running.add(p)
    }
    const t = setInterval(tick, everyMsOverride ?? s.everyMs)
    t.unref()
    return t
  })
  return {
    async stop() {
      stopped = true
      for (const t of timers) clearInterval(t)
      await Promise.all(running)
    },
  }
}

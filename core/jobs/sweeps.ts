import type { Logger } from 'pino'
import type { Db } from '../kernel/db/knex'
import { forEachTenant } from './tenants'

/**
 * Periodic per-tenant sweeps run by every worker: the safety net for work whose job Redis lost
 * (e.g. reconciliation runs still queued, webhook deliveries due). A sweep must be idempotent and
 * cheap per tenant (one indexed query); it typically re-enqueues with a stable jobId.
 *
 *   defineTenantSweep({ name: 'reconciliation-requeue', everyMs: 60_000, run: async (tenantId) => { ... } })
 */
export interface TenantSweep {
  name: string
  everyMs: number
  run(tenantId: string): Promise<void>
}

const sweeps: TenantSweep[] = []

export function defineTenantSweep(s: TenantSweep): void {
  if (sweeps.some((x) => x.name === s.name)) throw new Error(`sweep '${s.name}' is already defined`)
  if (!Number.isInteger(s.everyMs) || s.everyMs < 100) throw new Error(`sweep '${s.name}': everyMs must be ≥ 100`)
  sweeps.push(s)
}

export function startSweeps({ db, log, everyMsOverride }: { db: Db; log: Logger; everyMsOverride?: number }): { stop(): Promise<void> } {
  let stopped = false
  const running = new Set<Promise<unknown>>()
  const timers = sweeps.map((s) => {
    let busy = false
    const tick = () => {
      if (busy || stopped) return
      busy = true
      const p = forEachTenant(db, s.run, { concurrency: 2, stop: () => stopped, onError: (tenantId, err) => log.warn({ err, tenantId, sweep: s.name }, 'sweep failed for a tenant') })
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

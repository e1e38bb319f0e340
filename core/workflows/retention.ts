import type { Db, Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { withTenant } from '../kernel/db/tenant'
import { AppError } from '../kernel/errors'
import { addDays } from '../kernel/dates'
import { RETENTION_DATA_TYPES, type RetentionAction, type RetentionDataType, type RetentionPolicy } from '../kernel/plugins/contract'
import { ALLOWED_RETENTION_ACTIONS, MAX_RETAIN_DAYS } from '../kernel/plugins/retention'
import { configVersion } from '../kernel/plugins/chart-of-accounts'
import { pluginRuntime } from '../kernel/plugins/runtime'
import { recordAudit } from '../audit/service'
import { tenantToday } from '../../tenants/service'
import { enabledPlugin } from '../plugins/service'
import {
  addCount,
  countDue,
  createRun,
  declareRetentionRun,
  dueDeletedCustomers,
  finishRun,
  getOverride,
  listOverrides,
  loadRun,
  openNightlyRun,
  processChunk,
  recordAnonymized,
  runView,
  saveOverride,
  startRun,
  type Counts,
  type Cutoffs,
  type RunTrigger,
} from '../retention/model'

/**
 * Retention (API.md "Retention", ARCHITECTURE §7): the tenant's policies are its retention plugin's
 * defaults (the enabled one, else the built-in `retention-standard`) with its own overrides on top;
 * a run applies them data type by data type, in chunks, each chunk its own transaction, counting as
 * it goes, so a run resumed after a crash (or run again) does only what is left.
 */

export const DEFAULT_RETENTION_PLUGIN = 'retention-standard'
/** Rows per chunk (one transaction each). */
export const CHUNK_SIZE = 500
/** Customers per anonymization transaction (each one in its own savepoint). */
export const CUSTOMER_CHUNK = 50

/**
 * The anonymization of one customer (the privacy workflow, core/workflows/anonymize-customer.ts):
 * blanks the customer row, destroys its data key, audits without personal data. Called inside the
 * chunk's transaction, under a savepoint: a refusal leaves that customer for a later run.
 */
export type AnonymizeCustomer = (trx: Trx, ctx: RequestContext, customerId: string, reason: string) => Promise<unknown>

export interface RetentionDeps {
  /** The runtime-role database: every chunk opens its own tenant transaction. */
  db: Db
  /** null when this process has no anonymization step: soft-deleted customers are then counted as skipped. */
  anonymize: AnonymizeCustomer | null
  chunkSize?: number
}

/** The order of a run: what points at another type goes first (communications → notifications, deliveries → events). */
const RUN_ORDER: RetentionDataType[] = ['communications', 'notifications', 'webhook_deliveries', 'events', 'idempotency_keys', 'audit_log', 'documents', 'soft_deleted_customers']

export interface PolicyView {
  data_type: RetentionDataType
  retain_days: number
  action: RetentionAction
  source: string
}

/** The tenant's policies: plugin defaults (source `plugin:<name>`) with its overrides (source `tenant`). */
export async function retentionPolicies(trx: Trx, ctx: RequestContext): Promise<PolicyView[]> {
  const active = (await enabledPlugin(trx, ctx.tenantId, 'retention')) ?? { name: DEFAULT_RETENTION_PLUGIN, config: {} }
  const runtime = pluginRuntime()
  const plugin = runtime.registry.get(active.name)
  if (!plugin) throw new AppError('plugin_invalid', `The retention plugin '${active.name}' is not installed.`)
  const defaults = await runtime.retention.policies({ ...active, version: configVersion(plugin.manifest, active.config) })
  const overrides = new Map((await listOverrides(trx, ctx)).map((o) => [o.data_type, o]))
  return defaults.map((d) => {
    const o = overrides.get(d.data_type)
    return o ? { data_type: d.data_type, retain_days: o.retain_days, action: o.action, source: 'tenant' } : { ...d, source: `plugin:${active.name}` }
  })
}

/**
 * A tenant override. Refused with 400: an unknown data type (`retention_data_type_unknown`), an
 * action the data type does not allow (`retention_action_not_allowed`: ledger amounts are never
 * purged, documents and the audit log are only archived, soft-deleted customers only anonymized).
 * Audited.
 */
export async function setRetentionPolicy(trx: Trx, ctx: RequestContext, dataType: string, input: { retain_days: number; action: RetentionAction }): Promise<PolicyView> {
  if (!(RETENTION_DATA_TYPES as readonly string[]).includes(dataType)) {
    throw new AppError('retention_data_type_unknown', `Unknown retention data type '${dataType}' (one of ${RETENTION_DATA_TYPES.join(', ')}).`, { param: 'data_type' })
  }
  const type = dataType as RetentionDataType
  const allowed = ALLOWED_RETENTION_ACTIONS[type]
  if (!allowed.includes(input.action)) {
    throw new AppError('retention_action_not_allowed', `'${type}' can only be ${allowed.map((a) => `'${a}'`).join(' or ')}; '${input.action}' is not allowed.`, {
      param: 'action',
      details: { data_type: type, allowed: [...allowed] },
    })
  }
  if (!Number.isInteger(input.retain_days) || input.retain_days < 1 || input.retain_days > MAX_RETAIN_DAYS) {
    throw new AppError('validation_failed', `retain_days must be an integer from 1 to ${MAX_RETAIN_DAYS}.`, { param: 'retain_days' })
  }
  const before = await getOverride(trx, ctx, type, { forUpdate: true })
  await saveOverride(trx, ctx, { data_type: type, retain_days: input.retain_days, action: input.action })
  await recordAudit(trx, ctx, {
    action: 'retention_policy.updated',
    entity_type: 'retention_policy',
    entity_id: type,
    before: before ? { retain_days: before.retain_days, action: before.action } : null,
    after: { retain_days: input.retain_days, action: input.action },
  })
  return (await retentionPolicies(trx, ctx)).find((p) => p.data_type === type)!
}

/** The instant before which a type's rows are due: the start (UTC) of the accounting day minus retain_days. */
function cutoffOf(asOf: string, p: RetentionPolicy): string {
  return `${addDays(asOf, -p.retain_days)}T00:00:00.000Z`
}

function cutoffsOf(asOf: string, policies: RetentionPolicy[]): Cutoffs {
  const of = (t: RetentionDataType) => cutoffOf(asOf, policies.find((p) => p.data_type === t)!)
  return { communications: of('communications'), webhook_deliveries: of('webhook_deliveries') }
}

/** What a run would do now, per data type; writes nothing. */
export async function retentionDryRun(trx: Trx, ctx: RequestContext) {
  const asOf = await tenantToday(trx, ctx.tenantId)
  const policies = await retentionPolicies(trx, ctx)
  const cutoffs = cutoffsOf(asOf, policies)
  const counts: Record<string, number> = {}
  for (const p of policies) counts[p.data_type] = await countDue(trx, ctx, p.data_type, cutoffOf(asOf, p), cutoffs)
  return { object: 'retention_dry_run' as const, as_of: asOf, counts, policies }
}

/** A queued run (the caller enqueues its job after commit). */
export async function requestRetentionRun(trx: Trx, ctx: RequestContext, trigger: RunTrigger = 'manual') {
  return runView(await createRun(trx, ctx, trigger, await tenantToday(trx, ctx.tenantId)))
}

export async function getRetentionRun(trx: Trx, ctx: RequestContext, id: string) {
  return runView(await loadRun(trx, ctx, id))
}

/** The nightly job's run: the unfinished one of the last day, else a new one. */
export async function nightlyRetentionRun(trx: Trx, ctx: RequestContext): Promise<string> {
  return ((await openNightlyRun(trx, ctx)) ?? (await createRun(trx, ctx, 'nightly', await tenantToday(trx, ctx.tenantId)))).id
}

export interface RunOutcome {
  run: string
  skipped?: 'finished'
  counts?: Counts
}

/**
 * Executes a run: for each data type in RUN_ORDER, chunk after chunk until none is left. A failure
 * propagates (the job retries and resumes); the caller records it as failed after the last attempt.
 */
export async function executeRetentionRun(deps: RetentionDeps, ctx: RequestContext, runId: string): Promise<RunOutcome> {
  const tx = <T>(fn: (trx: Trx) => Promise<T>) => withTenant(deps.db, ctx.tenantId, fn)
  const run = await tx(async (trx) => {
    const r = await loadRun(trx, ctx, runId)
    if (r.status === 'completed' || r.status === 'failed') return null
    return startRun(trx, ctx, runId, r.policies ?? (await retentionPolicies(trx, ctx)))
  })
  if (!run) return { run: runId, skipped: 'finished' }
  const asOf = typeof run.as_of === 'string' ? run.as_of : (run.as_of as Date).toISOString().slice(0, 10)
  const policies = run.policies!
  const limit = deps.chunkSize ?? CHUNK_SIZE
  for (const type of RUN_ORDER) {
    const policy = policies.find((p) => p.data_type === type)!
    const cutoff = cutoffOf(asOf, policy)
    if (type === 'soft_deleted_customers') {
      await anonymizeDeleted(deps, ctx, runId, cutoff, tx)
      continue
    }
    for (;;) {
      const n = await tx(async (trx) => {
        await declareRetentionRun(trx, runId)
        const done = await processChunk(trx, ctx, runId, type, policy.action, cutoff, limit)
        await addCount(trx, ctx, runId, 'done', type, done)
        return done
      })
      if (n < limit) break
    }
  }
  const done = await tx((trx) => finishRun(trx, ctx, runId, {}))
  return { run: runId, counts: done.counts.done }
}

async function anonymizeDeleted(deps: RetentionDeps, ctx: RequestContext, runId: string, cutoff: string, tx: <T>(fn: (trx: Trx) => Promise<T>) => Promise<T>) {
  const refused: string[] = []
  for (;;) {
    const n = await tx(async (trx) => {
      const ids = await dueDeletedCustomers(trx, ctx, cutoff, CUSTOMER_CHUNK, refused)
      if (!deps.anonymize) {
        // Nothing here can anonymize: say how many wait (a later run with the step does them).
        refused.push(...ids)
        await addCount(trx, ctx, runId, 'skipped', 'soft_deleted_customers', ids.length)
        return ids.length
      }
      let done = 0
      for (const id of ids) {
        // No savepoint: the anonymization refuses (an AppError: a balance, an open dispute) before it
        // writes anything, and its audit rows join this transaction's (written before COMMIT). Any
        // other error rolls the chunk back and fails the job, which is retried.
        try {
          await deps.anonymize!(trx, ctx, id, `retention: deleted before ${cutoff.slice(0, 10)}`)
        } catch (err) {
          if (!(err instanceof AppError)) throw err
          refused.push(id)
          await addCount(trx, ctx, runId, 'skipped', 'soft_deleted_customers', 1)
          continue
        }
        await recordAnonymized(trx, ctx, runId, id)
        done++
      }
      await addCount(trx, ctx, runId, 'done', 'soft_deleted_customers', done)
      return ids.length
    })
    if (n < CUSTOMER_CHUNK) break
  }
}

export async function failRetentionRun(db: Db, ctx: RequestContext, runId: string, message: string): Promise<void> {
  await withTenant(db, ctx.tenantId, (trx) => finishRun(trx, ctx, runId, { error: message.slice(0, 1000) }))
}

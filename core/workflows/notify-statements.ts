import type { Db, Trx } from '../kernel/db/knex'
import { afterCommit, withTenant } from '../kernel/db/tenant'
import { systemContext, type RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { builtInAccess } from '../kernel/permissions'
import { recordAudit } from '../audit/service'
import { customerContact, statementCustomerIds } from '../customers/service'
import { channelKind, listChannels } from '../notifications/channels'
import { insertNotifications } from '../notifications/model'
import { formatAmount, statementDocument, statementPdf } from '../reports/statement'
import { insertRun, pendingCustomers, runRow, setRunStatus, storeStatement, type StatementRunView } from '../statement-runs/model'
import { enqueueAfterCommit, type NotificationEnqueue } from './notify'

/**
 * Statement runs: a PDF per customer for from..to, stored, and e-mailed through the tenant's e-mail
 * channel when `deliver` is `email` (a `statement` notification with the PDF attached, sent like
 * every notification: at most once). Each customer is its own transaction, so progress shows as
 * it goes and a resumed run skips the customers already done.
 */

export const MAX_RUN_CUSTOMERS = 10_000

export async function startStatementRun(
  trx: Trx,
  ctx: RequestContext,
  input: { from: string; to: string; customers?: string[]; deliver: 'email' | 'none' },
  enqueueRun: (tenantId: string, runId: string) => Promise<void>,
): Promise<StatementRunView> {
  if (input.from > input.to) throw new AppError('validation_failed', '`from` is after `to`.', { param: 'from' })
  let customers: string[] | null = null
  if (input.customers) {
    customers = [...new Set(input.customers)]
    for (const [i, id] of customers.entries()) {
      await customerContact(trx, ctx, id).catch((err) => {
        throw err instanceof AppError && err.code === 'resource_missing' ? new AppError('resource_missing', err.message, { param: `customers.${i}` }) : err
      })
    }
  }
  if (input.deliver === 'email' && !(await listChannels(trx, ctx)).some((c) => channelKind(c.plugin) === 'email')) {
    throw new AppError('channel_unavailable', 'Delivering statements by e-mail needs an e-mail notification channel (plugin email-smtp).', { param: 'deliver' })
  }
  const total = customers ? customers.length : (await statementCustomerIds(trx, ctx, MAX_RUN_CUSTOMERS)).length
  const run = await insertRun(trx, ctx, { from: input.from, to: input.to, customers, deliver: input.deliver, total })
  await recordAudit(trx, ctx, { action: 'statement_run.created', entity_type: 'statement_run', entity_id: run.id, after: run })
  afterCommit(trx, () => enqueueRun(ctx.tenantId, run.id).catch(() => undefined))
  return run
}

/** Makes (the rest of) a run: one transaction per customer. */
export async function processStatementRun(db: Db, tenantId: string, runId: string, enqueue: NotificationEnqueue): Promise<StatementRunView> {
  const ctx = systemContext(tenantId, builtInAccess('admin'), `job:statement-run:${runId}`)
  const { run, todo, emailChannel } = await withTenant(db, tenantId, async (trx) => {
    const run = await runRow(trx, ctx, runId)
    if (run.status === 'completed' || run.status === 'failed') return { run, todo: [], emailChannel: null }
    await setRunStatus(trx, tenantId, runId, 'running')
    const all = run.customers ?? (await statementCustomerIds(trx, ctx, MAX_RUN_CUSTOMERS))
    const emailChannel = (await listChannels(trx, ctx)).find((c) => channelKind(c.plugin) === 'email')?.id ?? null
    return { run, todo: await pendingCustomers(trx, tenantId, runId, all), emailChannel }
  })
  if (run.status === 'completed' || run.status === 'failed') return run
  for (const customerId of todo) {
    await withTenant(db, tenantId, async (trx) => {
      const statementId = newId('stm')
      try {
        const doc = await statementDocument(trx, ctx, customerId, { from: run.from, to: run.to }, true)
        const pdf = await statementPdf(doc)
        let notificationId: string | null = null
        if (run.deliver === 'email' && emailChannel) {
          const contact = await customerContact(trx, ctx, customerId)
          if (contact.email) {
            const s = doc.statement
            const [n] = await insertNotifications(trx, ctx, [
              {
                customer_id: customerId,
                template: 'statement',
                channel_id: emailChannel,
                data: { statement: { from: s.from, to: s.to, closing_balance: formatAmount(s.closing_balance, s.currency) } },
                source: 'statement_run',
                source_ref: runId,
                statement_id: statementId,
              },
            ])
            notificationId = n.id
            enqueueAfterCommit(trx, tenantId, [n.id], enqueue)
          }
        }
        await storeStatement(trx, tenantId, { id: statementId, run_id: runId, customer_id: customerId, from: run.from, to: run.to, pdf, error: null, notification_id: notificationId })
      } catch (err) {
        await storeStatement(trx, tenantId, { id: statementId, run_id: runId, customer_id: customerId, from: run.from, to: run.to, pdf: null, error: (err as Error).message.slice(0, 500), notification_id: null })
      }
    })
  }
  return withTenant(db, tenantId, async (trx) => {
    await setRunStatus(trx, tenantId, runId, 'completed')
    return runRow(trx, ctx, runId)
  })
}

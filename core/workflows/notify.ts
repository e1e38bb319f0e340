import type { Db, Trx } from '../kernel/db/knex'
import { afterCommit, withTenant } from '../kernel/db/tenant'
import { systemContext, type RequestContext } from '../kernel/context'
import { AppError } from '../kernel/errors'
import { newId } from '../kernel/ids'
import { builtInAccess } from '../kernel/permissions'
import type { ChannelMessage, ChannelResult } from '../kernel/plugins/contract'
import { recordAudit } from '../audit/service'
import { emitEvent, emitEvents } from '../outbox/outbox'
import { customerContact, type CustomerContact } from '../customers/service'
import { callChannel, channelKind, channelPlugin, channelRow, listChannels, type ChannelRow } from '../notifications/channels'
import {
  dueNotificationIds,
  failStaleSends,
  insertNotifications,
  lockDueNotifications,
  markSending,
  markSuppressed,
  markUndeliverable,
  notificationRow,
  notificationView,
  recordOutcomes,
  type Outcome,
  requeue,
  type NewNotification,
  type NotificationRow,
  type NotificationView,
} from '../notifications/model'
import { assertTemplateExists, renderTemplate, resolveTemplate } from '../notification-templates/model'
import { isBuiltInKey } from '../notification-templates/defaults'
import { insertCommunications, withdrawnPurposes } from '../communications/model'
import { addressLines, dunningLetterPdf, formatAmount, merchantOf, openItems, type DunningLetter, type Merchant } from '../reports/statement'
import { statementAttachment } from '../statement-runs/model'
import { ledgerContext } from '../ledger/engine'

/**
 * Sending notifications, at most once per notification id (ARCHITECTURE §7):
 *
 *   claim   (own committed transaction) — the row is due → suppressed, or `sending` with the
 *           rendered message and one more attempt;
 *   send    (no transaction open) — the channel plugin, once;
 *   record  (own transaction) — only if the row is still that claim: sent | failed (retry due) |
 *           dead, the attempt logged, a sent one written to the communications log.
 *
 * A process that dies between claim and record leaves the row `sending`; the sweep turns it into
 * `failed` / `unknown_outcome` after the lease and nobody sends it again until a person retries.
 */

export interface SendSettings {
  /** Automatic attempts per cycle (a person's retry starts a new cycle). */
  maxAttempts: number
  /** Delay before retry n (1-based) after a retryable failure. */
  backoffMs: (retry: number) => number
  /** A send still `sending` this long after its claim is an unknown outcome. */
  leaseMs: number
  allowPrivateTargets: boolean
  /** Per call of an HTTP channel. */
  httpTimeoutMs: number
}

export const DEFAULT_SEND_SETTINGS: Readonly<SendSettings> = Object.freeze({
  maxAttempts: 6,
  backoffMs: (n: number) => Math.min(30_000 * 4 ** (n - 1), 6 * 3600_000), // 30 s, 2 min, 8 min, 32 min, ~2 h
  leaseMs: 5 * 60_000,
  allowPrivateTargets: false,
  httpTimeoutMs: 10_000,
})

const systemCtx = (tenantId: string, requestId = 'job:notification-send') => systemContext(tenantId, builtInAccess('admin'), requestId)

// ---- channel choice, address, suppression -------------------------------------------------------

function addressFor(channel: ChannelRow, customer: CustomerContact): string | null {
  const recipient = channelPlugin(channel.plugin)?.recipient
  if (recipient === 'email') return customer.email
  if (recipient === 'phone') return customer.phone
  return recipient === 'customer' ? customer.id : null
}

/**
 * The named channel, else the tenant's first e-mail channel the customer has an address for, then
 * SMS, then webhook. `channels`: the tenant's channels when the caller has them already (a batch).
 */
async function chooseChannel(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customer: CustomerContact, channelId: string | null, channels?: () => Promise<ChannelRow[]>): Promise<ChannelRow | null> {
  if (channelId) return channelRow(trx, ctx, channelId, { param: 'channel' })
  const all = channels ? await channels() : await listChannels(trx, ctx)
  const usable = all.filter((c) => channelPlugin(c.plugin) && addressFor(c, customer))
  for (const kind of ['email', 'sms', 'webhook'] as const) {
    const c = usable.find((x) => channelKind(x.plugin) === kind)
    if (c) return c
  }
  return null
}

/**
 * Why this customer must not get a message on this channel, or null: preferences (`email: false`,
 * `sms: false`) or a withdrawn consent for the channel's medium or for `notifications` as a whole.
 */
export async function suppressionReason(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customer: CustomerContact, kind: 'email' | 'sms' | 'webhook'): Promise<string | null> {
  const prefs = customer.preferences as Record<string, unknown>
  if (kind !== 'webhook' && prefs[kind] === false) return `preference:${kind}`
  const withdrawn = await withdrawnPurposes(trx, ctx, customer.id)
  if (withdrawn.has(kind)) return `consent:${kind}`
  if (withdrawn.has('notifications')) return 'consent:notifications'
  return null
}

// ---- creating -----------------------------------------------------------------------------------

export const NOTIFICATION_JOB = 'notification-send'

/** Queues the send of notifications after the commit (a lost enqueue is found by the sweep). */
export function enqueueAfterCommit(trx: Trx, tenantId: string, ids: string[], enqueue: NotificationEnqueue): void {
  if (ids.length) afterCommit(trx, () => enqueue(tenantId, ids.map((id) => ({ id, jobId: id }))).catch(() => undefined))
}

export type NotificationEnqueue = (tenantId: string, items: { id: string; jobId: string; delayMs?: number }[]) => Promise<void>

export async function createNotification(
  trx: Trx,
  ctx: RequestContext,
  input: { customer: string; template: string; channel?: string; data?: Record<string, unknown> },
  enqueue: NotificationEnqueue,
): Promise<NotificationView> {
  const customer = await customerContact(trx, ctx, input.customer).catch((err) => {
    throw err instanceof AppError && err.code === 'resource_missing' ? new AppError('resource_missing', err.message, { param: 'customer' }) : err
  })
  if (!isBuiltInKey(input.template)) await assertTemplateExists(trx, ctx, input.template) // a built-in key always has a text
  const channel = await chooseChannel(trx, ctx, customer, input.channel ?? null)
  if (!channel) throw new AppError('channel_unavailable', 'The tenant has no notification channel with an address for this customer (add one, or give the customer an e-mail or phone).', { param: 'channel' })
  if (!addressFor(channel, customer)) throw new AppError('channel_unavailable', `The customer has no ${channelKind(channel.plugin) === 'sms' ? 'phone number' : 'e-mail address'} for this channel.`, { param: 'channel' })
  const [row] = await insertNotifications(trx, ctx, [{ customer_id: customer.id, template: input.template, channel_id: input.channel ?? null, data: input.data ?? {}, source: 'api' }])
  const view = notificationView(row)
  await recordAudit(trx, ctx, { action: 'notification.created', entity_type: 'notification', entity_id: row.id, after: { customer: row.customer_id, template: row.template, channel: row.channel_id } })
  enqueueAfterCommit(trx, ctx.tenantId, [row.id], enqueue)
  return view
}

/** Notifications for other workflows (statement runs, dunning): inserted in the caller's transaction, queued after commit. */
export async function queueNotifications(trx: Trx, ctx: RequestContext, rows: NewNotification[], enqueue: NotificationEnqueue): Promise<NotificationRow[]> {
  const inserted = await insertNotifications(trx, ctx, rows)
  enqueueAfterCommit(trx, ctx.tenantId, inserted.map((r) => r.id), enqueue)
  return inserted
}

export async function retryNotification(trx: Trx, ctx: RequestContext, id: string, enqueue: NotificationEnqueue): Promise<NotificationView> {
  const row = await notificationRow(trx, ctx, id, { forUpdate: true })
  if (row.status !== 'failed' && row.status !== 'dead') {
    throw new AppError('invalid_state', `Only a failed or dead notification can be retried; this one is ${row.status}.`, { param: 'id' })
  }
  const after = await requeue(trx, ctx.tenantId, id)
  await recordAudit(trx, ctx, { action: 'notification.retried', entity_type: 'notification', entity_id: id, before: { status: row.status, last_error: row.last_error }, after: { status: after.status } })
  afterCommit(trx, () => enqueue(ctx.tenantId, [{ id, jobId: `${id}-r${after.attempt_count}` }]).catch(() => undefined))
  return notificationView(after)
}

// ---- sending ------------------------------------------------------------------------------------

/** What every claim of one batch (one tenant, one transaction) reads alike: read once, when first needed. */
interface BatchReads {
  channels: () => Promise<ChannelRow[]>
  template: (key: string, language: string | null) => ReturnType<typeof resolveTemplate>
  today: () => Promise<string>
  merchant: () => Promise<Merchant>
}

function once<T>(load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | null = null
  return () => (p ??= load())
}

function batchReads(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>): BatchReads {
  const templates = new Map<string, ReturnType<typeof resolveTemplate>>()
  return {
    template: (key, language) => {
      const k = JSON.stringify([key, language])
      let t = templates.get(k)
      if (!t) templates.set(k, (t = resolveTemplate(trx, ctx, key, language)))
      return t
    },
    channels: once(() => listChannels(trx, ctx)),
    today: once(async () => (await ledgerContext(trx, ctx)).today),
    merchant: once(() => merchantOf(trx, ctx)),
  }
}

/** The values a template sees (amounts as decimals of the customer's currency). */
async function templateData(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customer: CustomerContact, row: NotificationRow, reads: BatchReads) {
  const today = await reads.today()
  const merchant = await reads.merchant()
  const items = await openItems(trx, ctx, customer.id, today)
  const money = (n: number) => formatAmount(n, customer.currency)
  const overdue = items.filter((i) => i.days_overdue > 0)
  const data = row.data ?? {}
  const view = {
    ...data,
    data,
    today,
    customer: { id: customer.id, name: customer.name, email: customer.email, phone: customer.phone },
    merchant: { name: merchant.name, email: merchant.email, phone: merchant.phone },
    currency: customer.currency.toUpperCase(),
    balance: money(customer.current_balance),
    overdue_amount: money(overdue.reduce((s, i) => s + i.outstanding, 0)),
    overdue_invoice_count: overdue.length,
    max_days_overdue: overdue.reduce((m, i) => Math.max(m, i.days_overdue), 0),
    invoices: items.slice(0, 50).map((i) => ({ ...i, total: money(i.total), outstanding: money(i.outstanding), currency: customer.currency.toUpperCase() })),
  }
  return { view, merchant, overdue, today }
}

/** The dunning level of a template: overdue_warning_1..3 → 1..3, suspension_notice → 4; else none. */
export function dunningLevel(template: string): number | null {
  const m = /^overdue_warning_([1-3])$/.exec(template)
  return m ? Number(m[1]) : template === 'suspension_notice' ? 4 : null
}

type Claim =
  | { kind: 'done'; id: string; status: 'suppressed' | 'dead' }
  | { kind: 'send'; row: NotificationRow; channel: ChannelRow; message: ChannelMessage; kindOf: 'email' | 'sms' | 'webhook'; letter: DunningLetter | null }

/** Claims one locked, due notification (see lockDueNotifications) in the batch's transaction. */
async function claim(trx: Trx, tenantId: string, due: NotificationRow, reads: BatchReads): Promise<Claim> {
  const ctx = systemCtx(tenantId)
  const id = due.id
  const customer = await customerContact(trx, ctx, due.customer_id).catch((err) => {
    if (err instanceof AppError && err.code === 'resource_missing') return null
    throw err
  })
  // A row that can never be sent must end here, or the sweep would queue it for ever.
  if (!customer) {
    await markUndeliverable(trx, tenantId, id, { code: 'customer_missing', message: 'The customer no longer exists.' })
    return { kind: 'done', id, status: 'dead' }
  }
  if (customer.deleted) {
    await markSuppressed(trx, tenantId, id, 'customer:deleted')
    return { kind: 'done', id, status: 'suppressed' }
  }
  const channel = await chooseChannel(trx, ctx, customer, due.channel_id, reads.channels).catch(() => null)
  const to = channel ? addressFor(channel, customer) : null
  if (!channel || !to) {
    await markUndeliverable(trx, tenantId, id, { code: 'channel_unavailable', message: channel ? 'The customer has no address for the channel.' : 'No channel of the tenant reaches this customer.' })
    return { kind: 'done', id, status: 'dead' }
  }
  const kind = channelKind(channel.plugin)
  const reason = await suppressionReason(trx, ctx, customer, kind)
  if (reason) {
    await markSuppressed(trx, tenantId, id, reason)
    await emitEvent(trx, ctx, 'notification.suppressed', notificationView({ ...due, status: 'suppressed', suppressed_reason: reason }))
    return { kind: 'done', id, status: 'suppressed' }
  }
  const template = await reads.template(due.template, typeof customer.preferences.language === 'string' ? customer.preferences.language : null)
  if (!template) {
    await markUndeliverable(trx, tenantId, id, { code: 'template_missing', message: `No template '${due.template}'.` })
    return { kind: 'done', id, status: 'dead' }
  }
  const { view, merchant, overdue, today } = await templateData(trx, ctx, customer, due, reads)
  const subject = template.subject ? renderTemplate(template.subject, view) : null
  const body = renderTemplate(template.body, view)
  const attachments = due.statement_id ? await statementAttachment(trx, ctx, due.statement_id) : null
  // An overdue warning or suspension notice by e-mail carries its dunning letter (rendered after this commit).
  const level = kind === 'email' && !attachments ? dunningLevel(due.template) : null
  const letter: DunningLetter | null = level
    ? {
        merchant,
        customer: { id: customer.id, name: customer.name, address: addressLines(customer.billing_address), tax_id: customer.tax_id },
        currency: customer.currency,
        level,
        date: today,
        subject: subject ?? due.template,
        body,
        overdue,
      }
    : null
  const row = await markSending(trx, tenantId, id, { channel_id: channel.id, recipient: to, subject, body })
  return {
    kind: 'send',
    row,
    channel,
    kindOf: kind,
    letter,
    message: { id, to, subject: subject ?? undefined, body, ...(attachments ? { attachments: [attachments] } : {}) },
  }
}

export interface SendResult {
  id: string
  status: 'skipped' | 'suppressed' | 'dead' | 'sent' | 'failed'
  retryInMs?: number
}

/** Decides what a provider result means for the notification. */
function outcomeOf(result: ChannelResult, row: NotificationRow, settings: SendSettings) {
  if (result.status === 'sent') return { status: 'sent' as const, retryInMs: null }
  const inCycle = row.attempt_count - row.cycle_start
  if (result.retryable && inCycle < settings.maxAttempts) return { status: 'failed' as const, retryInMs: settings.backoffMs(inCycle) }
  return { status: 'dead' as const, retryInMs: null }
}

type SendClaim = Extract<Claim, { kind: 'send' }>

/** The provider call of one claim (no transaction open): its dunning letter rendered, the channel called once. */
async function deliver(claimed: SendClaim, settings: SendSettings): Promise<ChannelResult> {
  const { row, channel, message } = claimed
  if (claimed.letter) {
    const pdf = await dunningLetterPdf(claimed.letter).catch(() => null) // a letter that fails to render does not stop the e-mail
    if (pdf) message.attachments = [{ filename: `letter-level-${claimed.letter.level}-${row.customer_id}.pdf`, contentType: 'application/pdf', content: pdf }]
  }
  return callChannel(channelPlugin(channel.plugin)!.entry, message, channel.config, settings)
}

/**
 * Sends a batch: `wanted` (safe to call any number of times for one id), or up to `limit` of the
 * tenant's oldest due notifications (draining). Claim all in one committed transaction, call the
 * providers concurrently (no transaction open), record every outcome in one transaction — each row
 * only if it is still that claim. A crash between claim and record leaves the batch `sending`, for
 * the sweep to declare unknown: nothing is ever sent twice by itself.
 */
export async function sendNotifications(db: Db, tenantId: string, wanted: string | null, limit: number, settings: SendSettings, enqueue: NotificationEnqueue, onResult?: (status: string) => void): Promise<SendResult[]> {
  const claims = await withTenant(db, tenantId, async (trx) => {
    const due = await lockDueNotifications(trx, tenantId, wanted, limit)
    const reads = batchReads(trx, systemCtx(tenantId))
    const out: Claim[] = []
    for (const row of due) out.push(await claim(trx, tenantId, row, reads))
    return out
  })
  const results: SendResult[] = claims.filter((c) => c.kind === 'done').map((c) => ({ id: c.id, status: c.status }))
  const sends = claims.filter((c): c is SendClaim => c.kind === 'send')
  if (!sends.length) return results
  const called = await Promise.all(sends.map(async (c) => ({ claimed: c, result: await deliver(c, settings) })))
  const recorded = await withTenant(db, tenantId, async (trx) => {
    const ctx = systemCtx(tenantId)
    const decided = called.map(({ claimed, result }) => {
      const o = outcomeOf(result, claimed.row, settings)
      const outcome: Outcome = {
        status: o.status,
        attemptStatus: result.status,
        provider_id: result.provider_id ?? null,
        error: result.status === 'failed' ? { code: result.retryable ? 'provider_failed_retryable' : 'provider_failed', message: result.error ?? 'failed' } : null,
        retryable: result.retryable,
        next_attempt_at: o.retryInMs !== null ? new Date(Date.now() + o.retryInMs) : null,
      }
      return { claimed, retryInMs: o.retryInMs, outcome }
    })
    const afterRows = await recordOutcomes(trx, tenantId, decided.map((d) => ({ row: d.claimed.row, attempt: d.claimed.row.attempt_count, outcome: d.outcome })))
    const events: { ctx: RequestContext; type: string; object: unknown }[] = []
    const communications: Parameters<typeof insertCommunications>[2] = []
    const out: SendResult[] = []
    for (const { claimed, retryInMs, outcome } of decided) {
      const { row, message } = claimed
      const id = row.id
      const after = afterRows.get(id)
      if (!after) {
        out.push({ id, status: 'skipped' })
        continue
      }
      if (outcome.status !== 'failed') events.push({ ctx, type: outcome.status === 'sent' ? 'notification.sent' : 'notification.dead', object: notificationView(after) })
      if (outcome.status === 'sent') {
        communications.push({
          customer_id: row.customer_id,
          type: claimed.kindOf === 'sms' ? 'sms' : claimed.kindOf === 'email' ? 'email' : 'note',
          direction: 'outbound',
          summary: `${row.template}: ${message.subject ?? message.body.slice(0, 200)}`.slice(0, 1000),
          notification_id: row.id,
        })
      }
      if (retryInMs !== null) {
        const delay = retryInMs
        afterCommit(trx, () => enqueue(tenantId, [{ id, jobId: `${id}-a${row.attempt_count}`, delayMs: delay }]).catch(() => undefined))
      }
      out.push({ id, status: outcome.status, ...(retryInMs !== null ? { retryInMs } : {}) })
    }
    if (events.length) await emitEvents(trx, events)
    await insertCommunications(trx, ctx, communications)
    return out
  })
  for (const r of recorded) if (r.status !== 'skipped') onResult?.(r.status)
  return [...results, ...recorded]
}

/** One send of one notification (safe to call any number of times for one id); `skipped` when it is not due. */
export async function sendNotification(db: Db, tenantId: string, id: string, settings: SendSettings, enqueue: NotificationEnqueue, onResult?: (status: string) => void): Promise<SendResult> {
  const [r] = await sendNotifications(db, tenantId, id, 1, settings, enqueue, onResult)
  return r ?? { id, status: 'skipped' }
}

/**
 * What one job does: its notification, then (holding the tenant's slot) the tenant's other due
 * notifications, oldest first, `batch` at a time, until none is due or `max` sends or `budgetMs`
 * have passed. Under a flood the tenant's queue drains in a few long jobs instead of one job per
 * message fighting for the tenant's slots; the jobs of the notifications sent this way find
 * nothing to claim.
 */
export async function sendAndDrain(
  db: Db,
  tenantId: string,
  id: string,
  settings: SendSettings,
  enqueue: NotificationEnqueue,
  opts: { max: number; budgetMs: number; batch: number },
  onResult?: (status: string) => void,
) {
  const started = Date.now()
  const first = await sendNotification(db, tenantId, id, settings, enqueue, onResult)
  let drained = 0
  while (drained < opts.max && Date.now() - started < opts.budgetMs) {
    const next = await sendNotifications(db, tenantId, null, Math.min(opts.batch, opts.max - drained), settings, enqueue, onResult)
    if (!next.length) break
    drained += next.length
  }
  return { ...first, drained }
}

/**
 * The safety net, per tenant: sends claimed longer ago than the lease become `failed` /
 * `unknown_outcome` (never resent); due notifications (queued — also those another workflow
 * inserted without a job, e.g. the credit policy — or failed with a retry due) are enqueued.
 */
export async function sweepNotifications(db: Db, tenantId: string, settings: Pick<SendSettings, 'leaseMs'>, enqueue: NotificationEnqueue, windowMs: number): Promise<{ unknown: string[]; enqueued: number }> {
  const { unknown, due } = await withTenant(db, tenantId, async (trx) => {
    const unknown = await failStaleSends(trx, tenantId, settings.leaseMs / 1000)
    return { unknown, due: await dueNotificationIds(trx, tenantId, 500) }
  })
  const window = Math.floor(Date.now() / Math.max(windowMs, 1000))
  if (due.length) await enqueue(tenantId, due.map((id) => ({ id, jobId: `${id}-s${window}` })))
  return { unknown, enqueued: due.length }
}

// ---- channel test -------------------------------------------------------------------------------

/** Sends a test message through a channel now (not stored as a notification); the attempt is audited. */
export async function testChannel(db: Db, ctx: RequestContext, id: string, to: string, settings: Pick<SendSettings, 'allowPrivateTargets' | 'httpTimeoutMs'>) {
  const channel = await withTenant(db, ctx.tenantId, (trx) => channelRow(trx, ctx, id))
  const found = channelPlugin(channel.plugin)
  if (!found) throw new AppError('plugin_invalid', `The plugin '${channel.plugin}' is not installed.`)
  const messageId = newId('ntt')
  const result = await callChannel(found.entry, { id: messageId, to, subject: 'Test message', body: `This is a test message from ${channel.name}.` }, channel.config, settings)
  await withTenant(db, ctx.tenantId, (trx) =>
    recordAudit(trx, ctx, { action: 'notification_channel.tested', entity_type: 'notification_channel', entity_id: id, after: { to, status: result.status, error: result.error ?? null } }),
  )
  return { object: 'notification_channel_test' as const, channel: id, to, status: result.status, provider_id: result.provider_id ?? null, error: result.error ?? null }
}

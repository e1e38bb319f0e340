import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { newId } from '../kernel/ids'
import { paginate, page, type ListQuery } from '../kernel/pagination'

/**
 * The communications log (`communications`) and consents (`consents`), the only SQL on them:
 * what was said to and by a customer (calls, e-mails, SMS, letters, visits, notes, promises to
 * pay), sent notifications included, and the customer's consent history per purpose (append-only;
 * the newest row of a purpose is in force).
 */

export const COMMUNICATION_TYPES = ['call', 'email', 'sms', 'letter', 'visit', 'note', 'promise_to_pay'] as const
export type CommunicationType = (typeof COMMUNICATION_TYPES)[number]

interface CommunicationRow {
  id: string
  customer_id: string
  type: CommunicationType
  direction: 'inbound' | 'outbound'
  summary: string
  occurred_at: Date
  promised_amount: number | string | null
  promised_date: string | null
  notification_id: string | null
  created_by: string
  created_at: Date
}

function communicationView(r: CommunicationRow) {
  return {
    id: r.id,
    object: 'communication' as const,
    customer: r.customer_id,
    type: r.type,
    direction: r.direction,
    summary: r.summary,
    occurred_at: r.occurred_at.toISOString(),
    promised_amount: r.promised_amount === null ? null : Number(r.promised_amount),
    promised_date: r.promised_date,
    notification: r.notification_id,
    created_by: r.created_by,
    created: r.created_at.toISOString(),
  }
}

export type CommunicationView = ReturnType<typeof communicationView>

export interface NewCommunication {
  customer_id: string
  type: CommunicationType
  direction: 'inbound' | 'outbound'
  summary: string
  occurred_at?: string
  promised_amount?: number | null
  promised_date?: string | null
  notification_id?: string | null
}

/** Inserts log rows (one statement). */
export async function insertCommunications(trx: Trx, ctx: Pick<RequestContext, 'tenantId' | 'keyId' | 'role'>, rows: NewCommunication[]): Promise<CommunicationView[]> {
  if (!rows.length) return []
  const inserted: CommunicationRow[] = await trx('communications')
    .insert(
      rows.map((r) => ({
        tenant_id: ctx.tenantId,
        id: newId('com'),
        customer_id: r.customer_id,
        type: r.type,
        direction: r.direction,
        summary: r.summary,
        ...(r.occurred_at ? { occurred_at: r.occurred_at } : {}),
        promised_amount: r.promised_amount ?? null,
        promised_date: r.promised_date ?? null,
        notification_id: r.notification_id ?? null,
        created_by: ctx.keyId ?? ctx.role,
      })),
    )
    .returning('*')
  return inserted.map(communicationView)
}

export async function listCommunications(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customerId: string, q: ListQuery & { type?: CommunicationType }) {
  const query = trx('communications').where({ tenant_id: ctx.tenantId, customer_id: customerId })
  if (q.type) query.where({ type: q.type })
  const { rows, has_more } = await paginate<CommunicationRow>(query, q)
  return page(rows.map(communicationView), has_more)
}

// ---- consents -----------------------------------------------------------------------------------

interface ConsentRow {
  id: string
  customer_id: string
  purpose: string
  granted: boolean
  source: string
  created_by: string
  created_at: Date
}

function consentView(r: ConsentRow) {
  return { id: r.id, object: 'consent' as const, customer: r.customer_id, purpose: r.purpose, granted: r.granted, source: r.source, recorded_by: r.created_by, created: r.created_at.toISOString() }
}

export type ConsentView = ReturnType<typeof consentView>

export async function insertConsent(trx: Trx, ctx: RequestContext, customerId: string, input: { purpose: string; granted: boolean; source: string }): Promise<ConsentView> {
  const [row]: ConsentRow[] = await trx('consents')
    .insert({ tenant_id: ctx.tenantId, id: newId('cns'), customer_id: customerId, ...input, created_by: ctx.keyId ?? ctx.role })
    .returning('*')
  return consentView(row)
}

/** The consents in force (newest per purpose) and the whole history, newest first. */
export async function customerConsents(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customerId: string) {
  const rows: ConsentRow[] = await trx('consents').where({ tenant_id: ctx.tenantId, customer_id: customerId }).orderBy('id', 'desc').limit(1000)
  const current = new Map<string, ConsentRow>()
  for (const r of rows) if (!current.has(r.purpose)) current.set(r.purpose, r)
  return {
    object: 'consents' as const,
    customer: customerId,
    current: [...current.values()].sort((a, b) => a.purpose.localeCompare(b.purpose)).map(consentView),
    history: rows.map(consentView),
  }
}

/** Purposes whose consent in force is withdrawn (granted = false). */
export async function withdrawnPurposes(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, customerId: string): Promise<Set<string>> {
  const { rows }: { rows: { purpose: string; granted: boolean }[] } = await trx.raw(
    `select distinct on (purpose) purpose, granted from consents where tenant_id = ? and customer_id = ? order by purpose, id desc`,
    [ctx.tenantId, customerId],
  )
  return new Set(rows.filter((r) => !r.granted).map((r) => r.purpose))
}

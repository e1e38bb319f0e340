import { inOrder, type Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { openValues } from '../privacy/sealing'
import { getCustomer } from '../customers/service'

/**
 * The data export of one customer (`GET /v1/customers/:id/export`, API.md "Customers: merge,
 * duplicates, privacy"): a read model over every table that holds rows of the customer, declared
 * as such and only read. Rows are the stored columns (without `tenant_id`, without file contents:
 * evidence is listed with its SHA-256, downloadable by id), each section one indexed query by
 * `(tenant_id, customer_id)`; invoice and credit-note lines by their documents' ids. Audit entries
 * and events about the customer are opened (core/privacy/sealing.ts): the export shows personal
 * data as it was, or null once the customer is anonymized.
 *
 * Bounded: each section holds at most EXPORT_SECTION_MAX rows, newest first; a section cut short
 * is named in `truncated`, and the section's own list endpoint pages through the rest.
 */
export const EXPORT_SECTION_MAX = 5000

const SECTIONS = {
  invoices: 'invoices',
  payments: 'payments',
  credit_notes: 'credit_notes',
  refunds: 'refunds',
  write_offs: 'write_offs',
  adjustments: 'adjustments',
  sales: 'sales',
  allocations: 'allocations',
  transactions: 'customer_transactions',
  disputes: 'disputes',
  communications: 'communications',
  notifications: 'notifications',
  consents: 'consents',
  credit_limit_changes: 'credit_limit_changes',
  credit_limit_requests: 'credit_limit_requests',
} as const

type Row = Record<string, unknown>

function clean(rows: Row[]): Row[] {
  return rows.map(({ tenant_id: _t, ...r }) => r)
}

export async function exportCustomer(trx: Trx, ctx: RequestContext, id: string) {
  // 404 like any read outside the caller's scope; row-level security scopes every section below.
  const customer = await getCustomer(trx, ctx, id)
  const truncated: string[] = []
  const limited = async (name: string, q: Promise<Row[]>): Promise<Row[]> => {
    const rows = await q
    if (rows.length > EXPORT_SECTION_MAX) {
      truncated.push(name)
      return rows.slice(0, EXPORT_SECTION_MAX)
    }
    return rows
  }
  const by = (table: string) => trx(table).where({ tenant_id: ctx.tenantId, customer_id: id })

  const out: Record<string, Row[]> = {}
  for (const [name, table] of Object.entries(SECTIONS)) {
    out[name] = clean(await limited(name, by(table).orderBy('created_at', 'desc').limit(EXPORT_SECTION_MAX + 1)))
  }
  const invoiceIds = out.invoices.map((r) => r.id as string)
  const creditNoteIds = out.credit_notes.map((r) => r.id as string)
  const [invoiceLines, creditNoteLines, evidence] = await inOrder([
    invoiceIds.length ? trx('invoice_lines').where({ tenant_id: ctx.tenantId }).whereIn('invoice_id', invoiceIds).orderBy(['invoice_id', 'line_no']) : [],
    creditNoteIds.length ? trx('credit_note_lines').where({ tenant_id: ctx.tenantId }).whereIn('credit_note_id', creditNoteIds) : [],
    by('dispute_evidence').orderBy('created_at', 'desc').limit(EXPORT_SECTION_MAX).select('id', 'dispute_id', 'filename', 'content_type', 'size', 'sha256', 'created_by', 'created_at'),
  ])

  const auditRows: Row[] = await limited('audit_entries', by('audit_log').orderBy('seq', 'desc').limit(EXPORT_SECTION_MAX + 1).select('id', 'seq', 'actor', 'action', 'entity_type', 'entity_id', 'before', 'after', 'reason', 'ip', 'user_agent', 'request_id', 'created_at'))
  const snaps = await openValues(trx, ctx.tenantId, auditRows.flatMap((r) => [r.before, r.after]))
  const eventRows: Row[] = await limited('events', by('events').orderBy('created_at', 'desc').limit(EXPORT_SECTION_MAX + 1).select('id', 'type', 'data', 'created_at', 'request_id'))
  const objects = await openValues(trx, ctx.tenantId, eventRows.map((r) => (r.data as { object: unknown }).object))

  return {
    object: 'customer_export' as const,
    exported_at: new Date().toISOString(),
    customer,
    documents: {
      invoices: out.invoices.map((inv) => ({ ...inv, lines: clean((invoiceLines as Row[]).filter((l) => l.invoice_id === inv.id)) })),
      payments: out.payments,
      credit_notes: out.credit_notes.map((cn) => ({ ...cn, lines: clean((creditNoteLines as Row[]).filter((l) => l.credit_note_id === cn.id)) })),
      refunds: out.refunds,
      write_offs: out.write_offs,
      adjustments: out.adjustments,
      sales: out.sales,
      allocations: out.allocations,
    },
    transactions: out.transactions,
    disputes: out.disputes.map((d) => ({ ...d, evidence: clean((evidence as Row[]).filter((e) => e.dispute_id === d.id)) })),
    communications: out.communications,
    notifications: out.notifications,
    consents: out.consents,
    credit_limit_history: { changes: out.credit_limit_changes, requests: out.credit_limit_requests },
    // Shaped like GET /v1/audit-log entries, so the field rules hide the same snapshot fields.
    audit_entries: auditRows.map((r, i) => ({ ...r, object: 'audit_log_entry', entity: r.entity_id, before: snaps[2 * i], after: snaps[2 * i + 1] })),
    events: eventRows.map((r, i) => ({ id: r.id, object: 'event', type: r.type, created: r.created_at, request_id: r.request_id, data: { object: objects[i] } })),
    limits: { section_max: EXPORT_SECTION_MAX },
    truncated,
  }
}

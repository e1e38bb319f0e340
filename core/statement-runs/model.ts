import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import { newId } from '../kernel/ids'

/**
 * Statement runs and their statements (`statement_runs`, `statements`: the only SQL on them): a
 * run's progress (total, done, failed) and each customer's stored PDF (bytea), with the
 * notification that e-mailed it when the run delivers.
 */

interface RunRow {
  id: string
  status: 'queued' | 'running' | 'completed' | 'failed'
  from_date: string
  to_date: string
  customers: string[] | null
  deliver: 'email' | 'none'
  total: number
  done: number
  failed: number
  error: string | null
  created_by: string
  created_at: Date
  completed_at: Date | null
}

function runView(r: RunRow, statements?: { id: string; customer_id: string; status: string; error: string | null; notification_id: string | null; size: number | null }[]) {
  return {
    id: r.id,
    object: 'statement_run' as const,
    status: r.status,
    from: r.from_date,
    to: r.to_date,
    customers: r.customers,
    deliver: r.deliver,
    total: r.total,
    done: r.done,
    failed: r.failed,
    error: r.error,
    created: r.created_at.toISOString(),
    completed_at: r.completed_at ? r.completed_at.toISOString() : null,
    ...(statements
      ? { statements: statements.map((s) => ({ id: s.id, customer: s.customer_id, status: s.status, error: s.error, notification: s.notification_id, size: s.size === null ? null : Number(s.size) })) }
      : {}),
  }
}

export type StatementRunView = ReturnType<typeof runView>

const RUN_COLUMNS = ['id', 'status', 'customers', 'deliver', 'total', 'done', 'failed', 'error', 'created_by', 'created_at', 'completed_at']
const dateCols = (trx: Trx) => [trx.raw(`to_char(from_date, 'YYYY-MM-DD') as from_date`), trx.raw(`to_char(to_date, 'YYYY-MM-DD') as to_date`)]

export async function insertRun(trx: Trx, ctx: RequestContext, input: { from: string; to: string; customers: string[] | null; deliver: 'email' | 'none'; total: number }): Promise<StatementRunView> {
  const [row]: RunRow[] = await trx('statement_runs')
    .insert({ tenant_id: ctx.tenantId, id: newId('str'), from_date: input.from, to_date: input.to, customers: input.customers, deliver: input.deliver, total: input.total, created_by: ctx.keyId ?? ctx.role })
    .returning([...RUN_COLUMNS, ...dateCols(trx)])
  return runView(row)
}

async function findRun(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string): Promise<RunRow> {
  const row: RunRow | undefined = await trx('statement_runs').where({ tenant_id: ctx.tenantId, id }).first([...RUN_COLUMNS, ...dateCols(trx)])
  if (!row) throw notFound('statement run', id, 'id')
  return row
}

export async function runRow(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string): Promise<StatementRunView> {
  return runView(await findRun(trx, ctx, id))
}

/** A run with its statements (id, customer, status, size, notification). */
export async function getRun(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string): Promise<StatementRunView> {
  const run = await findRun(trx, ctx, id)
  const statements = await trx('statements')
    .where({ tenant_id: ctx.tenantId, run_id: id })
    .orderBy('id')
    .limit(1000)
    .select('id', 'customer_id', 'status', 'error', 'notification_id', trx.raw('octet_length(pdf) as size'))
  return runView(run, statements)
}

export async function setRunStatus(trx: Trx, tenantId: string, id: string, status: RunRow['status'], error: string | null = null): Promise<void> {
  await trx('statement_runs')
    .where({ tenant_id: tenantId, id })
    .update({ status, error, ...(status === 'completed' || status === 'failed' ? { completed_at: trx.fn.now() } : {}) })
}

/** Customers of the run that have no statement yet (a resumed run skips what it did). */
export async function pendingCustomers(trx: Trx, tenantId: string, runId: string, customers: string[]): Promise<string[]> {
  const done: { customer_id: string }[] = await trx('statements').where({ tenant_id: tenantId, run_id: runId }).select('customer_id')
  const seen = new Set(done.map((d) => d.customer_id))
  return customers.filter((c) => !seen.has(c))
}

/** Stores one customer's statement and counts it in the run (one statement each). */
export async function storeStatement(
  trx: Trx,
  tenantId: string,
  input: { id: string; run_id: string; customer_id: string; from: string; to: string; pdf: Buffer | null; error: string | null; notification_id: string | null },
): Promise<void> {
  await trx('statements').insert({
    tenant_id: tenantId,
    id: input.id,
    run_id: input.run_id,
    customer_id: input.customer_id,
    from_date: input.from,
    to_date: input.to,
    status: input.pdf ? 'generated' : 'failed',
    pdf: input.pdf,
    error: input.error,
    notification_id: input.notification_id,
  })
  await trx('statement_runs')
    .where({ tenant_id: tenantId, id: input.run_id })
    .update(input.pdf ? { done: trx.raw('done + 1') } : { failed: trx.raw('failed + 1') })
}

/** A stored statement as a mail attachment. */
export async function statementAttachment(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, id: string): Promise<{ filename: string; contentType: string; content: Buffer } | null> {
  const row: { pdf: Buffer | null; customer_id: string; from_date: string; to_date: string } | undefined = await trx('statements')
    .where({ tenant_id: ctx.tenantId, id })
    .first('pdf', 'customer_id', trx.raw(`to_char(from_date, 'YYYY-MM-DD') as from_date`), trx.raw(`to_char(to_date, 'YYYY-MM-DD') as to_date`))
  if (!row?.pdf) return null
  return { filename: `statement-${row.customer_id}-${row.from_date}-${row.to_date}.pdf`, contentType: 'application/pdf', content: row.pdf }
}

export async function statementPdfBytes(trx: Trx, ctx: Pick<RequestContext, 'tenantId'>, runId: string, statementId: string): Promise<Buffer> {
  const row: { pdf: Buffer | null } | undefined = await trx('statements').where({ tenant_id: ctx.tenantId, run_id: runId, id: statementId }).first('pdf')
  if (!row?.pdf) throw notFound('statement', statementId, 'statement')
  return row.pdf
}

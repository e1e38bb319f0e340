import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { notFound } from '../kernel/errors'
import type { ImportStatus, ImportType } from './schemas'

/** The import record (`imports`, `import_errors`: the only SQL on them). Posting rows is a workflow (core/workflows/import-rows.ts). */

export interface ImportActor {
  key_id: string | null
  user: string | null
  role: string
  permissions: string[]
  own_customers_only: boolean
  owners: string[] | null
}

export interface ImportRow {
  id: string
  type: ImportType
  dry_run: boolean
  status: ImportStatus
  filename: string
  size: number
  sha256: string
  rows_total: number | null
  rows_done: number
  rows_failed: number
  error: string | null
  actor: ImportActor
  created_by: string
  created_at: Date
  finished_at: Date | null
}

export interface RowError {
  row: number
  error_code: string
  error_message: string
  param: string | null
}

const COLUMNS = ['id', 'type', 'dry_run', 'status', 'filename', 'size', 'sha256', 'rows_total', 'rows_done', 'rows_failed', 'error', 'actor', 'created_by', 'created_at', 'finished_at'] as const

export function importView(r: ImportRow) {
  return {
    id: r.id,
    object: 'import' as const,
    type: r.type,
    dry_run: r.dry_run,
    status: r.status,
    filename: r.filename,
    size: r.size,
    sha256: r.sha256,
    rows_total: r.rows_total,
    rows_done: r.rows_done,
    rows_failed: r.rows_failed,
    progress: r.rows_total ? Math.min(1, r.rows_done / r.rows_total) : r.status === 'completed' ? 1 : 0,
    error: r.error,
    created: r.created_at.toISOString(),
    finished: r.finished_at?.toISOString() ?? null,
  }
}

export type ImportView = ReturnType<typeof importView>

/** Stores an upload; the same file of the same type (and dry-run flag) answers the first import. */
export async function insertImport(
  trx: Trx,
  ctx: RequestContext,
  i: Pick<ImportRow, 'id' | 'type' | 'dry_run' | 'filename' | 'size' | 'sha256' | 'actor'> & { content: Buffer },
): Promise<{ row: ImportRow; created: boolean }> {
  const inserted: ImportRow[] = await trx('imports')
    .insert({ tenant_id: ctx.tenantId, ...i, actor: JSON.stringify(i.actor), created_by: ctx.keyId ?? ctx.role })
    .onConflict(['tenant_id', 'type', 'dry_run', 'sha256'])
    .ignore()
    .returning(COLUMNS)
  if (inserted.length) return { row: inserted[0], created: true }
  const row = await trx('imports').where({ tenant_id: ctx.tenantId, type: i.type, dry_run: i.dry_run, sha256: i.sha256 }).first(...COLUMNS)
  return { row, created: false }
}

export async function getImportRow(trx: Trx, tenantId: string, id: string): Promise<ImportRow> {
  const row = await trx('imports').where({ tenant_id: tenantId, id }).first(...COLUMNS)
  if (!row) throw notFound('import', id)
  return row
}

/** The file under the import's row lock (one job at a time works an import). */
export async function lockImport(trx: Trx, tenantId: string, id: string): Promise<(ImportRow & { content: Buffer }) | null> {
  return (await trx('imports').where({ tenant_id: tenantId, id }).forUpdate().first()) ?? null
}

export async function setImportState(
  trx: Trx,
  tenantId: string,
  id: string,
  patch: Partial<Pick<ImportRow, 'status' | 'rows_total' | 'error'>> & { started?: boolean; finished?: boolean },
): Promise<void> {
  const { started, finished, ...cols } = patch
  await trx('imports')
    .where({ tenant_id: tenantId, id })
    .update({ ...cols, ...(started ? { started_at: trx.fn.now() } : {}), ...(finished ? { finished_at: trx.fn.now() } : {}), updated_at: trx.fn.now() })
}

/** Records a chunk's outcome: refused rows (once each) and the progress, in the chunk's transaction. */
export async function recordChunk(trx: Trx, tenantId: string, id: string, rowsDone: number, errors: RowError[]): Promise<void> {
  if (errors.length) {
    await trx('import_errors')
      .insert(errors.map((e) => ({ tenant_id: tenantId, import_id: id, ...e })))
      .onConflict(['tenant_id', 'import_id', 'row'])
      .ignore()
  }
  await trx('imports')
    .where({ tenant_id: tenantId, id })
    .update({
      rows_done: rowsDone,
      rows_failed: trx.raw('(select count(*) from import_errors e where e.tenant_id = imports.tenant_id and e.import_id = imports.id)'),
      updated_at: trx.fn.now(),
    })
}

/** Rows of the import refused so far (row numbers count data rows from 1). */
export async function refusedRows(trx: Trx, tenantId: string, id: string): Promise<RowError[]> {
  return trx('import_errors').where({ tenant_id: tenantId, import_id: id }).orderBy('row').select('row', 'error_code', 'error_message', 'param')
}

/** Imports queued or running for longer than `staleMs`: their job was lost. */
export async function staleImportIds(trx: Trx, tenantId: string, staleMs: number): Promise<string[]> {
  const rows = await trx('imports')
    .where({ tenant_id: tenantId })
    .whereIn('status', ['queued', 'validating', 'importing'])
    .where('updated_at', '<', trx.raw(`now() - make_interval(secs => ?)`, [staleMs / 1000]))
    .select('id')
  return rows.map((r: { id: string }) => r.id)
}

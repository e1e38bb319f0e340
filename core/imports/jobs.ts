import { defineJob, enqueue, withJobTenant, type JobContext } from '../jobs/queues'
import { defineTenantSweep } from '../jobs/sweeps'
import { AppError } from '../kernel/errors'
import { assertTenantKey } from '../http/auth'
import { checkHeader, csvRecords, fileError, importChunk, importChunkSize, importContext, type CsvRecord } from '../workflows/import-rows'
import { lockImport, recordChunk, setImportState, staleImportIds } from './model'

/**
 * The `import` job: reads the stored file (validation pass: header and row count), then posts its
 * rows in chunks (importChunkSize), each committed with its progress, so a retried job (or one the
 * sweep enqueues again after a crash) resumes after the last committed chunk and never posts a row
 * twice. Per-tenant fairness is the queues' (core/jobs/slots.ts). Exported, registered in
 * core/jobs/registry.ts.
 */
export const IMPORT = 'import'
const ATTEMPTS = 3
/** An unfinished import untouched this long has lost its job: the sweep enqueues it again. */
export const STALE_IMPORT_MS = 10 * 60_000

type ImportJob = { importId: string }

export async function runImportJob(data: ImportJob, job: JobContext) {
  const inTx = <T>(fn: (trx: import('../kernel/db/knex').Trx) => Promise<T>) => withJobTenant(job, fn)
  const imp = await inTx((trx) => lockImport(trx, job.tenantId, data.importId))
  if (!imp) return { import: data.importId, skipped: 'missing' }
  if (imp.status === 'completed' || imp.status === 'failed') return { import: imp.id, skipped: imp.status }
  const ctx = importContext(job.tenantId, imp)
  try {
    // Validation pass: the header and the number of rows (the file is read as a stream).
    let total = 0
    let header: string[] | null = null
    for await (const r of csvRecords(imp.content)) {
      if (!header) checkHeader(imp.type, (header = Object.keys(r)))
      total++
    }
    if (!header) throw new AppError('validation_failed', 'The file has no data row.', { param: 'file' })
    await inTx((trx) => setImportState(trx, job.tenantId, imp.id, { status: 'importing', rows_total: total, started: imp.status === 'queued' }))

    let row = 0
    const chunkSize = importChunkSize(imp.type)
    let chunk: { row: number; record: CsvRecord }[] = []
    const flush = async () => {
      if (!chunk.length) return
      const last = chunk[chunk.length - 1].row
      await importChunk(inTx, ctx, imp, chunk, (trx, refused) => recordChunk(trx, job.tenantId, imp.id, last, refused), (trx, c, keyId) =>
        assertTenantKey(trx, c.tenantId, keyId, 'assigned_to'),
      )
      chunk = []
    }
    for await (const record of csvRecords(imp.content)) {
      row++
      if (row <= imp.rows_done) continue // committed by an earlier attempt
      chunk.push({ row, record })
      if (chunk.length === chunkSize) await flush()
    }
    await flush()
    await inTx((trx) => setImportState(trx, job.tenantId, imp.id, { status: 'completed', finished: true }))
    return { import: imp.id, rows: total }
  } catch (err) {
    const fileRefused = err instanceof AppError || (err as { code?: string }).code?.startsWith('CSV_')
    if (fileRefused || job.attemptsMade + 1 >= ATTEMPTS) {
      await inTx((trx) => setImportState(trx, job.tenantId, imp.id, { status: 'failed', error: fileError(err).slice(0, 2000), finished: true }))
      if (fileRefused) return { import: imp.id, failed: fileError(err) }
    }
    throw err
  }
}

export const importJob = defineJob<ImportJob>(IMPORT, runImportJob, { attempts: ATTEMPTS, concurrency: 2, timeoutMs: 60 * 60_000 })

/** After the commit that stored the file; the job id is the import id, so this is safe to repeat. */
export function enqueueImport(tenantId: string, importId: string): Promise<void> {
  return enqueue<ImportJob>(IMPORT, tenantId, { importId }, { jobId: importId })
}

export const importRequeue = defineTenantSweep({
  name: 'import-requeue',
  everyMs: 60_000,
  async run(db, tenantId) {
    const ids = await withJobTenant({ tenantId, db }, (trx) => staleImportIds(trx, tenantId, STALE_IMPORT_MS))
    for (const id of ids) await enqueueImport(tenantId, id)
  },
})

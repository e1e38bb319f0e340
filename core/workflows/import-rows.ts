import { Readable } from 'node:stream'
import { parse } from 'csv-parse'
import type { Trx } from '../kernel/db/knex'
import type { RequestContext } from '../kernel/context'
import { AppError, type ErrorCode } from '../kernel/errors'
import { accessFor, isPermission } from '../kernel/permissions'
import { strictAjv } from '../kernel/schema'
import { createCustomerBody } from '../customers/schemas'
import { createInvoiceBody } from '../invoices/schemas'
import { createPaymentBody } from '../payments/schemas'
import { createAdjustmentBody, type CreateAdjustmentInput } from '../adjustments/schemas'
import { dateSchema } from '../kernel/money'
import { createCustomers, type AssigneeCheck } from '../customers/service'
import { IMPORT_COLUMNS, type ImportType } from '../imports/schemas'
import type { ImportActor, ImportRow, RowError } from '../imports/model'
import { postInBatch, type BatchItem } from './steps/batch'
import { createInvoices } from './post-invoices'
import { createPayments } from './record-payment'
import { planAdjustment } from './adjust'

/**
 * Workflow: post the rows of a CSV import (API.md "Imports") through the same body schema and the
 * same workflow as the API request each row stands for, in chunks: one transaction per chunk, in
 * which the refused rows write nothing (group posting rolls a refused request's step back; a
 * customer chunk is created set-based, its refusals checked before its writes) and the chunk's progress and refusals are recorded. A
 * dry run posts each chunk in a transaction that is rolled back and records only the report.
 *
 * The rows run as the key that uploaded the file (its role, field rights and customer scope).
 */

/**
 * Rows per chunk (one transaction each). A chunk of documents locks the balance rows of the
 * customers it posts to until it commits, which live postings to them wait for, so it stays small;
 * a chunk of customers locks no existing row, and larger chunks spread the per-chunk statements and
 * commit over more rows (100,000 customers: 63.6 s in chunks of 1,000).
 */
export function importChunkSize(type: ImportType): number {
  return type === 'customers' ? 1000 : 200
}

/** A CSV record as read: header name → cell text. */
export type CsvRecord = Record<string, string>

/** The records of a file, one by one (row numbers count data rows from 1), streaming. */
export async function* csvRecords(content: Buffer): AsyncGenerator<CsvRecord> {
  const parser = Readable.from(content).pipe(parse({ columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true, max_record_size: 64 * 1024 }))
  for await (const r of parser) yield r as CsvRecord
}

/** Refuses a header that lacks a required column or names one the type does not know. */
export function checkHeader(type: ImportType, header: string[]): void {
  const { required, optional } = IMPORT_COLUMNS[type]
  const unknown = header.filter((h) => !required.includes(h) && !optional.includes(h))
  if (unknown.length) throw new AppError('validation_failed', `Unknown column(s) for a ${type} import: ${unknown.join(', ')}.`, { param: 'file' })
  const missing = required.filter((c) => !header.includes(c))
  if (missing.length) throw new AppError('validation_failed', `Missing column(s) for a ${type} import: ${missing.join(', ')}.`, { param: 'file' })
  if (type !== 'customers' && !header.includes('customer') && !header.includes('customer_external_id')) {
    throw new AppError('validation_failed', 'A row names its customer: add a `customer` or a `customer_external_id` column.', { param: 'file' })
  }
}

/** The context the rows run in: the uploading key's role, rights and scope. */
export function importContext(tenantId: string, imp: Pick<ImportRow, 'id' | 'actor'>): RequestContext {
  const a: ImportActor = imp.actor
  const access = accessFor(a.role, { permissions: a.permissions.filter(isPermission), ownCustomersOnly: a.own_customers_only }, a.owners ?? [])
  return { tenantId, keyId: a.key_id, user: a.user, role: a.role, access, requestId: imp.id, ip: null, userAgent: null, idempotencyKey: null }
}

// ---- rows → API bodies ------------------------------------------------------------------------

const INTEGER = /^-?\d{1,16}$/

function cell(r: CsvRecord, k: string): string | undefined {
  const v = r[k]
  return v === undefined || v === '' ? undefined : v
}

/** An integer cell as a number; anything else is left as text, for the schema to refuse with its param. */
function int(r: CsvRecord, k: string): number | string | undefined {
  const v = cell(r, k)
  return v !== undefined && INTEGER.test(v) ? Number(v) : v
}

function bool(r: CsvRecord, k: string): boolean | string | undefined {
  const v = cell(r, k)?.toLowerCase()
  return v === 'true' ? true : v === 'false' ? false : v
}

function compact<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

const importedAdjustmentBody = {
  ...createAdjustmentBody,
  properties: { ...createAdjustmentBody.properties, due_date: dateSchema },
}

const VALIDATORS = {
  customers: strictAjv.compile(createCustomerBody),
  invoices: strictAjv.compile(createInvoiceBody),
  payments: strictAjv.compile(createPaymentBody),
  opening_balances: strictAjv.compile(importedAdjustmentBody),
}

/** The API body a row stands for (its customer already resolved to an id). */
function bodyOf(type: ImportType, r: CsvRecord, customer: string | undefined): Record<string, unknown> {
  switch (type) {
    case 'customers':
      return compact({
        name: cell(r, 'name'), email: cell(r, 'email'), phone: cell(r, 'phone'), tax_id: cell(r, 'tax_id'), currency: cell(r, 'currency'),
        credit_limit: int(r, 'credit_limit'), payment_terms_days: int(r, 'payment_terms_days'), external_id: cell(r, 'external_id'), assigned_to: cell(r, 'assigned_to'),
      })
    case 'invoices':
      return compact({
        customer, issue_date: cell(r, 'issue_date'), due_date: cell(r, 'due_date'), currency: cell(r, 'currency'), exchange_rate: cell(r, 'exchange_rate'), memo: cell(r, 'memo'), external_id: cell(r, 'external_id'),
        lines: [compact({ description: cell(r, 'description'), quantity: int(r, 'quantity') ?? 1, unit_amount: int(r, 'unit_amount'), tax_rate: cell(r, 'tax_rate') })],
      })
    case 'payments': {
      const amount = int(r, 'amount')
      const invoice = cell(r, 'invoice')
      return compact({
        customer, amount, method: cell(r, 'method'), received_date: cell(r, 'received_date'), reference: cell(r, 'reference'), currency: cell(r, 'currency'),
        exchange_rate: cell(r, 'exchange_rate'), auto_apply: bool(r, 'auto_apply'), external_id: cell(r, 'external_id'), allocations: invoice ? [{ invoice, amount }] : undefined,
      })
    }
    case 'opening_balances':
      return compact({
        customer, amount: int(r, 'amount'), reason: cell(r, 'reason') ?? 'Opening balance', posting_date: cell(r, 'date'), due_date: cell(r, 'due_date'), exchange_rate: cell(r, 'exchange_rate'),
      })
  }
}

/** The schema's verdict on a body: null, or the refusal with the field (as a CSV column where it maps to one). */
function schemaError(type: ImportType, body: Record<string, unknown>): AppError | null {
  const validate = VALIDATORS[type]
  if (validate(body)) return null
  const e = validate.errors![0]
  const path = e.instancePath.split('/').filter(Boolean)
  const field = (e.params as { missingProperty?: string }).missingProperty ?? path[path.length - 1] ?? path[0]
  const param = field === 'lines' || /^\d+$/.test(field ?? '') ? path[path.length - 1] : field
  return new AppError('validation_failed', `Invalid field '${param}': ${e.message}.`, { param })
}

interface Prepared {
  row: number
  body?: Record<string, unknown>
  error?: AppError
}

function rowError(row: number, e: AppError): RowError {
  return { row, error_code: e.code, error_message: e.message.slice(0, 1000), param: e.param ?? null }
}

/** Resolves `customer_external_id` cells of a chunk in one statement (customers the key sees). */
async function externalIds(trx: Trx, ctx: RequestContext, records: CsvRecord[]): Promise<Map<string, string>> {
  const wanted = [...new Set(records.map((r) => cell(r, 'customer_external_id')).filter((v): v is string => v !== undefined))]
  if (!wanted.length) return new Map()
  const rows: { id: string; external_id: string }[] = await trx('customers').where({ tenant_id: ctx.tenantId }).whereNull('deleted_at').whereIn('external_id', wanted).select('id', 'external_id')
  return new Map(rows.map((r) => [r.external_id, r.id]))
}

async function prepare(trx: Trx, ctx: RequestContext, type: ImportType, records: { row: number; record: CsvRecord }[]): Promise<Prepared[]> {
  const byExternal = type === 'customers' ? new Map<string, string>() : await externalIds(trx, ctx, records.map((r) => r.record))
  return records.map(({ row, record }) => {
    let customer: string | undefined
    if (type !== 'customers') {
      const ext = cell(record, 'customer_external_id')
      customer = cell(record, 'customer') ?? (ext === undefined ? undefined : byExternal.get(ext))
      if (customer === undefined && ext !== undefined) return { row, error: new AppError('resource_missing', `No customer with external_id '${ext}'.`, { param: 'customer_external_id' }) }
      if (customer === undefined) return { row, error: new AppError('validation_failed', 'The row names no customer.', { param: 'customer' }) }
    }
    const body = bodyOf(type, record, customer)
    const error = schemaError(type, body)
    return error ? { row, error } : { row, body }
  })
}

/** Posts the prepared rows of one chunk in `trx`; returns the refusals (posted rows wrote their documents). */
async function post(trx: Trx, ctx: RequestContext, type: ImportType, rows: Prepared[], assertAssignee: AssigneeCheck): Promise<RowError[]> {
  const refused = rows.filter((p) => p.error).map((p) => rowError(p.row, p.error!))
  const ok = rows.filter((p) => p.body)
  if (!ok.length) return refused
  const items = ok.map((p) => ({ ctx, input: p.body as never }))
  let results: unknown[]
  switch (type) {
    case 'customers':
      results = await createCustomers(trx, ctx, ok.map((p) => p.body as never), assertAssignee)
      break
    case 'invoices':
      results = await createInvoices(trx, items)
      break
    case 'payments':
      results = await createPayments(trx, items)
      break
    case 'opening_balances':
      results = await postInBatch(trx, items as BatchItem<CreateAdjustmentInput & { due_date?: string }>[], {
        customerOf: (_ctx, input) => input.customer,
        plan: (plan, c, lc, customer, input) => planAdjustment(trx, plan, c, lc, customer, input, 'opening_balance'),
      })
      break
  }
  results.forEach((r, i) => {
    if (r instanceof AppError) refused.push(rowError(ok[i].row, r))
  })
  return refused.sort((a, b) => a.row - b.row)
}

/** Thrown to roll a dry run's chunk back once its verdicts are known. */
class DryRunRollback extends Error {
  constructor(readonly refused: RowError[]) {
    super('dry run')
  }
}

/**
 * Posts one chunk (rows already checked against the header) and records its outcome: in one
 * transaction for a real import, or rolled back with the report written after, for a dry run.
 */
export async function importChunk(
  inTx: <T>(fn: (trx: Trx) => Promise<T>) => Promise<T>,
  ctx: RequestContext,
  imp: Pick<ImportRow, 'id' | 'type' | 'dry_run'>,
  records: { row: number; record: CsvRecord }[],
  record: (trx: Trx, refused: RowError[]) => Promise<void>,
  /** How `assigned_to` is checked (a key of the tenant), as POST /v1/customers checks it. */
  assertAssignee: AssigneeCheck,
): Promise<number> {
  if (!imp.dry_run) {
    return inTx(async (trx) => {
      const refused = await post(trx, ctx, imp.type, await prepare(trx, ctx, imp.type, records), assertAssignee)
      await record(trx, refused)
      return refused.length
    })
  }
  let refused: RowError[] = []
  try {
    await inTx(async (trx) => {
      throw new DryRunRollback(await post(trx, ctx, imp.type, await prepare(trx, ctx, imp.type, records), assertAssignee))
    })
  } catch (err) {
    if (!(err instanceof DryRunRollback)) throw err
    refused = err.refused
  }
  await inTx((trx) => record(trx, refused))
  return refused.length
}

/** The code a whole-file refusal reads as (the import ends `failed` with this message). */
export function fileError(err: unknown): string {
  if (err instanceof AppError) return `${err.code as ErrorCode}: ${err.message}`
  const code = (err as { code?: string }).code
  return code?.startsWith('CSV_') ? `invalid_csv: ${(err as Error).message}` : `internal_error: ${(err as Error).message ?? String(err)}`
}

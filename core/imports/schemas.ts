export const IMPORT_TYPES = ['customers', 'opening_balances', 'invoices', 'payments'] as const
export type ImportType = (typeof IMPORT_TYPES)[number]
export const IMPORT_STATUSES = ['queued', 'validating', 'importing', 'completed', 'failed'] as const
export type ImportStatus = (typeof IMPORT_STATUSES)[number]

/** The largest file an import takes (API.md: 50 MiB). */
export const IMPORT_MAX_BYTES = 50 * 1024 * 1024

/**
 * The columns of each import type (the header row names them, in any order; unknown columns refuse
 * the file). A row is posted through the same body schema and workflow as the API request named.
 * Amounts are integers in minor units; dates YYYY-MM-DD; empty cells are absent fields. A row names
 * its customer by `customer` (cus_…) or by `customer_external_id`.
 */
export const IMPORT_COLUMNS: Record<ImportType, { required: string[]; optional: string[]; like: string }> = {
  customers: {
    required: ['name'],
    optional: ['email', 'phone', 'tax_id', 'currency', 'credit_limit', 'payment_terms_days', 'external_id', 'assigned_to'],
    like: 'POST /v1/customers',
  },
  opening_balances: {
    required: ['amount'],
    optional: ['customer', 'customer_external_id', 'date', 'due_date', 'reason', 'exchange_rate'],
    like: 'POST /v1/adjustments, posted against Opening balance equity (signed: positive, the customer owes; negative, a credit)',
  },
  invoices: {
    required: ['description', 'unit_amount'],
    optional: ['customer', 'customer_external_id', 'quantity', 'tax_rate', 'issue_date', 'due_date', 'currency', 'exchange_rate', 'memo', 'external_id'],
    like: 'POST /v1/invoices with one line',
  },
  payments: {
    required: ['amount', 'method'],
    optional: ['customer', 'customer_external_id', 'received_date', 'reference', 'currency', 'exchange_rate', 'invoice', 'auto_apply', 'external_id'],
    like: 'POST /v1/payments (`invoice`: the whole amount applied to it; `auto_apply`: true or false)',
  },
}

const columnsDoc = Object.entries(IMPORT_COLUMNS)
  .map(([type, c]) => `\`${type}\` (${c.like}): required ${c.required.join(', ')}; optional ${c.optional.join(', ')}`)
  .join('. ')

export const IMPORT_DESCRIPTION =
  `Multipart: \`file\` (CSV, UTF-8, a header row, at most 50 MiB), \`type\`, optional \`dry_run\` (true: every row is checked and posted in a transaction that is rolled back; nothing is written but the import's report). ` +
  `The same file (by SHA-256) of the same type imported again answers the first import. Columns: ${columnsDoc}.`

export const importSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    object: { type: 'string', enum: ['import'] },
    type: { type: 'string', enum: IMPORT_TYPES },
    dry_run: { type: 'boolean' },
    status: { type: 'string', enum: IMPORT_STATUSES },
    filename: { type: 'string' },
    size: { type: 'integer' },
    sha256: { type: 'string' },
    rows_total: { type: ['integer', 'null'], description: 'Known once the validation pass has read the file.' },
    rows_done: { type: 'integer', description: 'Rows handled so far, posted or refused.' },
    rows_failed: { type: 'integer' },
    progress: { type: 'number', minimum: 0, maximum: 1, description: 'rows_done / rows_total (0 until the total is known).' },
    error: { type: ['string', 'null'], description: 'Why the whole file was refused (status failed).' },
    created: { type: 'string' },
    finished: { type: ['string', 'null'] },
  },
  required: ['id', 'object', 'type', 'dry_run', 'status', 'filename', 'size', 'sha256', 'rows_total', 'rows_done', 'rows_failed', 'progress', 'error', 'created', 'finished'],
} as const

/**
 * The one error catalogue. Services throw `AppError(code, ...)`; `core/http/errors.ts` maps it to
 * HTTP in exactly one place. Codes are stable: merchants branch on them.
 */
export type ErrorType =
  | 'invalid_request'
  | 'authentication'
  | 'permission'
  | 'not_found'
  | 'conflict'
  | 'business_rule'
  | 'rate_limit'
  | 'internal'

interface CatalogEntry {
  status: number
  type: ErrorType
  message: string
}

export const CATALOG = {
  // 400
  validation_failed: { status: 400, type: 'invalid_request', message: 'The request is invalid.' },
  invalid_json: { status: 400, type: 'invalid_request', message: 'The request body is not valid JSON.' },
  invalid_amount: { status: 400, type: 'invalid_request', message: 'Amounts must be integers in minor units.' },
  invalid_currency: { status: 400, type: 'invalid_request', message: 'Unknown currency.' },
  invalid_string: { status: 400, type: 'invalid_request', message: 'Strings must not contain NUL characters (\\u0000) or unpaired UTF-16 surrogates.' },
  nesting_too_deep: { status: 400, type: 'invalid_request', message: 'The request body is nested too deeply.' },
  invalid_date: { status: 400, type: 'invalid_request', message: 'Dates must be valid YYYY-MM-DD.' },
  invalid_cursor: { status: 400, type: 'invalid_request', message: 'The pagination cursor is invalid.' },
  invalid_idempotency_key: { status: 400, type: 'invalid_request', message: 'Idempotency-Key must be 1 to 255 printable characters.' },
  unsupported_media_type: { status: 415, type: 'invalid_request', message: 'Content-Type must be application/json.' },
  template_invalid: { status: 400, type: 'invalid_request', message: 'The template is invalid: unknown placeholder, partial or section, or unbalanced tags.' },
  evidence_type_not_allowed: { status: 415, type: 'invalid_request', message: 'Evidence must be a PDF, PNG, JPEG or plain-text file (checked by content).' },
  invalid_rule: { status: 400, type: 'invalid_request', message: 'The credit-policy rule set is invalid.' },
  body_too_large: { status: 413, type: 'invalid_request', message: 'The request body is too large.' },
  plugin_kind_unsupported: { status: 400, type: 'invalid_request', message: 'The plugin provides a kind this service cannot run yet; it cannot be enabled.' },
  retention_action_not_allowed: { status: 400, type: 'invalid_request', message: 'This retention action is not allowed for this data type (ledger amounts are never purged; documents and the audit log are only archived; soft-deleted customers are only anonymized).' },
  payment_method_unknown: { status: 400, type: 'invalid_request', message: "The payment method is not one of the tenant's payment methods (GET /v1/settings)." },
  retention_data_type_unknown: { status: 400, type: 'invalid_request', message: 'Unknown retention data type.' },
  // 401 / 403
  authentication_required: { status: 401, type: 'authentication', message: 'A valid API key is required (Authorization: Bearer <key>).' },
  invalid_api_key: { status: 401, type: 'authentication', message: 'The API key is invalid or revoked.' },
  permission_denied: { status: 403, type: 'permission', message: 'The API key role lacks the permission for this action.' },
  field_not_permitted: { status: 403, type: 'permission', message: 'The API key role may not write this field.' },
  invalid_session: { status: 401, type: 'authentication', message: 'The console session is invalid, expired or signed out, or its API key was revoked: sign in again.' },
  csrf_token_invalid: { status: 403, type: 'permission', message: 'A state change through the console session needs its CSRF token in the X-CSRF-Token header.' },
  cross_site_request: { status: 403, type: 'permission', message: 'The console session cannot be used from another site.' },
  self_approval: { status: 403, type: 'permission', message: 'A request cannot be approved by the key that made it.' },
  // 404
  resource_missing: { status: 404, type: 'not_found', message: 'No such resource.' },
  route_not_found: { status: 404, type: 'not_found', message: 'No such route.' },
  // 409 / 412 / 422 conflicts
  version_conflict: { status: 412, type: 'conflict', message: 'The resource changed since you read it (If-Match is stale).' },
  idempotency_key_in_use: { status: 409, type: 'conflict', message: 'A request with this Idempotency-Key is still in flight.' },
  idempotency_key_reused: { status: 422, type: 'conflict', message: 'This Idempotency-Key was used with a different request.' },
  duplicate_external_id: { status: 409, type: 'conflict', message: 'A customer with this external_id already exists.' },
  external_id_taken: { status: 409, type: 'conflict', message: 'A document of this type with this external_id already exists.' },
  customer_has_balance: { status: 409, type: 'conflict', message: 'The customer has a non-zero balance or open documents.' },
  customer_deleted: { status: 409, type: 'conflict', message: 'The customer is deleted.' },
  customer_not_deleted: { status: 409, type: 'conflict', message: 'The customer is not deleted.' },
  api_key_revoked: { status: 409, type: 'conflict', message: 'The API key is already revoked.' },
  role_in_use: { status: 409, type: 'conflict', message: 'An active API key holds this role.' },
  duplicate_role_name: { status: 409, type: 'conflict', message: 'A role with this name already exists.' },
  approval_not_pending: { status: 409, type: 'conflict', message: 'The request is no longer pending: it was already approved, rejected or failed.' },
  dispute_open: { status: 409, type: 'conflict', message: 'The customer has an open dispute.' },
  dispute_closed: { status: 409, type: 'conflict', message: 'The dispute is already decided (or no longer open for this step).' },
  approval_expired: { status: 409, type: 'conflict', message: 'The approval request expired before it was decided.' },
  // 422 business rules
  period_closed: { status: 422, type: 'business_rule', message: 'The posting date falls in a closed or locked period.' },
  over_allocation: { status: 422, type: 'business_rule', message: 'Allocations exceed the outstanding amount or the available credit.' },
  credit_limit_exceeded: { status: 422, type: 'business_rule', message: 'The document would take the customer over the credit limit.' },
  balance_limit_exceeded: { status: 422, type: 'business_rule', message: 'The posting would take a customer balance past its limit.' },
  refund_exceeds_credit: { status: 422, type: 'business_rule', message: 'The refund exceeds the available credit.' },
  insufficient_credit: { status: 422, type: 'business_rule', message: 'The customer has too little unapplied credit (advance balance) for this posting.' },
  overpayment: { status: 422, type: 'business_rule', message: 'The payment exceeds the sale total: give the excess back as change (cash) or keep it as credit.' },
  change_not_allowed: { status: 422, type: 'business_rule', message: 'Change can be given on a cash payment only, and no more than the amount paid above the total.' },
  return_quantity_exceeded: { status: 422, type: 'business_rule', message: 'The returned quantity exceeds the quantity sold less prior returns.' },
  write_off_exceeds_outstanding: { status: 422, type: 'business_rule', message: 'The write-off exceeds the invoice outstanding amount.' },
  already_reversed: { status: 422, type: 'business_rule', message: 'The transaction is already fully reversed.' },
  document_not_voidable: { status: 422, type: 'business_rule', message: 'The document is part of another posting (a customer merge carried it over): correct it with a credit note instead.' },
  reversal_exceeds_remaining: { status: 422, type: 'business_rule', message: 'The partial reversal exceeds what remains of the transaction.' },
  currency_mismatch: { status: 422, type: 'business_rule', message: 'The currencies do not match.' },
  exchange_rate_required: { status: 422, type: 'business_rule', message: 'A foreign-currency document needs an exchange_rate.' },
  dispute_exceeds_amount: { status: 422, type: 'business_rule', message: 'The disputed amount exceeds what the payment or invoice can be disputed for.' },
  invalid_state: { status: 422, type: 'business_rule', message: 'The resource is not in a state that allows this action.' },
  period_overlap: { status: 422, type: 'business_rule', message: 'The period overlaps an existing period.' },
  reconciliation_failed: { status: 422, type: 'business_rule', message: 'Cached balances disagree with the ledger.' },
  customer_suspended: { status: 422, type: 'business_rule', message: 'The customer is suspended: no new invoice or sale on account.' },
  credit_hold: { status: 422, type: 'business_rule', message: 'The customer is on credit hold: no new invoice or sale on account.' },
  customer_inactive: { status: 422, type: 'business_rule', message: 'The customer cannot take new documents in its current status.' },
  channel_unavailable: { status: 422, type: 'business_rule', message: 'No notification channel of the tenant can reach this customer (no channel, or no address for it).' },
  plugin_invalid: { status: 422, type: 'business_rule', message: 'The plugin or its configuration is invalid.' },
  posting_rejected: { status: 422, type: 'business_rule', message: 'The chart-of-accounts plugin produced an invalid posting.' },
  // A plugin call or rule evaluation was killed (time budget or heap limit exceeded) or its worker
  // died: it fails its own request or job, nothing is written. 422 like the other plugin outcomes
  // (the tenant's configured plugin cannot handle this input); the plugin's owner must fix it.
  plugin_failed: { status: 422, type: 'business_rule', message: 'A plugin or rule exceeded its time budget or heap limit, or failed, and was stopped.' },
  // 429 / 500 / 503
  rate_limited: { status: 429, type: 'rate_limit', message: 'Too many requests.' },
  overloaded: { status: 503, type: 'rate_limit', message: 'Too many postings of this tenant are waiting; retry shortly.' },
  internal_error: { status: 500, type: 'internal', message: 'An internal error occurred.' },
  service_unavailable: { status: 503, type: 'internal', message: 'The service is not ready.' },
} as const satisfies Record<string, CatalogEntry>

export type ErrorCode = keyof typeof CATALOG

export class AppError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly type: ErrorType
  readonly param?: string
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message?: string, opts: { param?: string; details?: Record<string, unknown> } = {}) {
    const entry: CatalogEntry = CATALOG[code]
    super(message ?? entry.message)
    this.name = 'AppError'
    this.code = code
    this.status = entry.status
    this.type = entry.type
    this.param = opts.param
    this.details = opts.details
  }
}

export const notFound = (what: string, id?: string, param?: string) =>
  new AppError('resource_missing', `No such ${what}${id ? `: '${id}'` : ''}.`, { param })

/**
 * SQLSTATE of the business rules the database enforces (migration …130000001): the error's
 * `constraint` field carries the rule's catalogue code (`period_closed`, `posting_rejected`).
 */
export const DB_RULE_SQLSTATE = 'RB001'

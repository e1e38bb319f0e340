import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { AppError, CATALOG, DB_RULE_SQLSTATE, ErrorCode } from '../kernel/errors'
import { MAX_ACCOUNTING_DATE, MIN_ACCOUNTING_DATE } from '../kernel/dates'
import { countErrorAnswer } from '../ops/metrics'

export interface ErrorBody {
  error: { type: string; code: string; message: string; param?: string; request_id: string; details?: Record<string, unknown> }
}

/** Network errors of a connection to Postgres (or anything the request needs) that was refused, lost or timed out. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])

/**
 * Whether `e` says the database is unavailable right now rather than that the request is wrong:
 * a refused or lost connection (the pg driver's "Connection terminated unexpectedly", "…not queryable"), the
 * pool's acquire timeout (knex's KnexTimeoutError), SQLSTATE class 08 (connection exception),
 * 57P01/57P02/57P03 (the server shutting down, crashed, or not yet accepting connections) and 53300
 * (too many connections). Such a request wrote nothing it can keep, or committed with its answer
 * lost: either way a retry with its Idempotency-Key is safe, so it answers 503 with Retry-After.
 */
export function isUnavailable(e: { code?: unknown; name?: unknown; message?: unknown } | null | undefined): boolean {
  if (!e) return false
  const code = typeof e.code === 'string' ? e.code : ''
  if (UNREACHABLE.has(code) || /^08[0-9A-Z]{3}$/.test(code) || ['57P01', '57P02', '57P03', '53300'].includes(code)) return true
  if (e.name === 'KnexTimeoutError') return true
  const message = typeof e.message === 'string' ? e.message : ''
  // knex prefixes the statement ("COMMIT; - Connection terminated unexpectedly").
  return /Connection terminated|Client has encountered a connection error|Connection ended unexpectedly|timeout exceeded when trying to connect|is not queryable/.test(message)
}

/** Maps anything thrown to the catalogue: the only place errors become HTTP. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err
  const e = err as FastifyError & { validation?: { keyword?: string; instancePath?: string; params?: Record<string, unknown>; message?: string }[]; validationContext?: string }
  if (e?.validation) {
    const v = e.validation[0]
    let param = (v?.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.')
    if (v?.params?.additionalProperty) param = [param, v.params.additionalProperty].filter(Boolean).join('.')
    if (v?.params?.missingProperty) param = [param, v.params.missingProperty].filter(Boolean).join('.')
    const where = e.validationContext ?? 'body'
    const message = v?.params?.additionalProperty
      ? `Unknown field '${param}' in ${where}.`
      : v?.keyword === 'format' && v.params?.format === 'date'
        ? `Invalid ${where}${param ? ` field '${param}'` : ''}: must be a date YYYY-MM-DD from ${MIN_ACCOUNTING_DATE} to ${MAX_ACCOUNTING_DATE}.`
        : `Invalid ${where}${param ? ` field '${param}'` : ''}: ${v?.message ?? 'invalid'}.`
    return new AppError('validation_failed', message, { param: param || undefined })
  }
  switch (e?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AppError('body_too_large')
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new AppError('unsupported_media_type')
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new AppError('invalid_json')
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // The router refuses a path segment longer than its maxParamLength (fastify's 414) before
      // any route runs: no id is that long, so it is an invalid parameter like any other.
      return new AppError('validation_failed', 'A path parameter is longer than 100 characters.')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AppError('validation_failed', 'Content-Length does not match the body.')
    case '23505':
      // A document's external_id taken by a concurrent transaction (checked before the write otherwise).
      if (/^(invoices|payments|credit_notes|sales)_external_id_key$/.test((e as { constraint?: string }).constraint ?? '')) return new AppError('external_id_taken', undefined, { param: 'external_id' })
      break
    case DB_RULE_SQLSTATE: {
      const code = (e as { constraint?: string }).constraint as ErrorCode | undefined
      if (code && code in CATALOG) return new AppError(code, undefined, { param: code === 'period_closed' ? 'posting_date' : undefined })
      break
    }
  }
  if (isUnavailable(e)) return new AppError('service_unavailable', 'The database is unavailable; retry shortly (with the same Idempotency-Key).')
  if (e instanceof SyntaxError || e?.statusCode === 400) return new AppError('validation_failed', e.message)
  if (e?.statusCode === 429) return new AppError('rate_limited')
  if (e?.statusCode === 413) return new AppError('body_too_large')
  if (e?.statusCode === 415) return new AppError('unsupported_media_type')
  return new AppError('internal_error')
}

/** The body of every error answer; each call counts one answer in `http_errors_total{code}`. */
export function errorBody(err: AppError, requestId: string): ErrorBody {
  countErrorAnswer(err.code)
  return {
    error: {
      type: err.type,
      code: err.code,
      message: err.message,
      ...(err.param ? { param: err.param } : {}),
      request_id: requestId,
      ...(err.details ? { details: err.details } : {}),
    },
  }
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const appErr = toAppError(err)
    if (appErr.status >= 500) req.log.error({ err }, 'request failed')
    if ((appErr.code === 'rate_limited' || appErr.code === 'overloaded' || appErr.code === 'service_unavailable') && reply.getHeader('retry-after') === undefined) reply.header('retry-after', '1')
    reply.code(appErr.status).send(errorBody(appErr, req.id))
  })
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(errorBody(new AppError('route_not_found', `No route ${req.method} ${req.url.split('?')[0]}.`), req.id))
  })
}

/** Response schema shared by every route for its 4xx/5xx answers. */
export const errorResponseSchema = {
  $id: 'Error',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        type: { type: 'string', enum: [...new Set(Object.values(CATALOG).map((e) => e.type))] },
        code: { type: 'string', enum: Object.keys(CATALOG), description: 'Stable: branch on it. The catalogue is core/kernel/errors.ts.' },
        message: { type: 'string' },
        param: { type: 'string', description: 'The request field the error is about, when there is one.' },
        request_id: { type: 'string' },
        details: { type: 'object', additionalProperties: true },
      },
      required: ['type', 'code', 'message', 'request_id'],
    },
  },
  required: ['error'],
}

import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError } from '../kernel/errors'

/**
 * How deep a JSON body may nest (objects and arrays). The deepest schema of the API (a document's
 * lines, metadata a few levels down) stays far below; 5,000 levels would overflow every recursive
 * walk after parsing (the idempotency hash, the validator, the audit diff).
 */
export const MAX_BODY_DEPTH = 32

/** NUL (Postgres text refuses it) or a UTF-16 surrogate without its partner (not valid UTF-8/JSON). */
const BAD_STRING = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function badString(s: string): boolean {
  return BAD_STRING.test(s)
}

function paramOf(path: string[]): string | undefined {
  return path.length ? path.join('.') : undefined
}

/**
 * Walks a parsed input iteratively (no recursion, whatever its depth): refuses nesting beyond
 * `maxDepth` (400 `nesting_too_deep`) and any string, key or value, holding a NUL or a lone
 * surrogate (400 `invalid_string`, `param` the field's path; a bad key names its parent).
 */
export function assertSafeInput(value: unknown, maxDepth = MAX_BODY_DEPTH): void {
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }]
  while (stack.length) {
    const { value: v, path } = stack.pop()!
    if (typeof v === 'string') {
      if (badString(v)) throw new AppError('invalid_string', undefined, { param: paramOf(path) })
      continue
    }
    if (!v || typeof v !== 'object') continue
    if (path.length >= maxDepth) {
      throw new AppError('nesting_too_deep', `The request body is nested deeper than ${maxDepth} levels.`, { param: paramOf(path.slice(0, 8)) })
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: [...path, String(i)] })
      continue
    }
    const keys = Object.keys(v)
    for (let i = keys.length - 1; i >= 0; i--) {
      const k = keys[i]
      if (badString(k)) throw new AppError('invalid_string', 'Field names must not contain NUL characters or unpaired UTF-16 surrogates.', { param: paramOf(path) })
      stack.push({ value: (v as Record<string, unknown>)[k], path: [...path, k] })
    }
  }
}

/**
 * One check for every route, before schema validation and before any handler: a body, query or
 * path parameter that Postgres or JSON cannot store is refused with 400 and nothing runs. A
 * literal `null` body is no request object: refused too (fastify skips schema validation of it).
 */
export function registerInputGuard(app: FastifyInstance): void {
  app.addHook('preValidation', async (req: FastifyRequest) => {
    if (req.body === null) throw new AppError('validation_failed', 'The request body must be a JSON object, not null.')
    assertSafeInput(req.params, 2)
    assertSafeInput(req.query, 4)
    // A route may allow deeper bodies (credit-policy rules bound their own depth): config.maxBodyDepth.
    assertSafeInput(req.body, req.routeOptions.config?.maxBodyDepth ?? MAX_BODY_DEPTH)
  })
}

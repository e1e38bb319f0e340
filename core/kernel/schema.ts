import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import { isAccountingDate } from './dates'

/**
 * The JSON-schema validators of the API. Bodies are validated strictly: no type coercion ("100" is
 * not an amount) and unknown fields are refused rather than silently dropped. Query strings and
 * params are strings on the wire, so they are coerced. Imports validate each CSV row, once typed,
 * with the same strict validator and the same body schema as the API route it stands for.
 */
export function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    coerceTypes: coerce ? 'array' : false,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
  })
  addFormats(ajv)
  // Every `format: date` is an accounting date: a real day within the accepted range, so no date
  // arithmetic (due dates) can leave what Postgres and JavaScript can hold.
  ajv.addFormat('date', { type: 'string', validate: isAccountingDate })
  ajv.addKeyword({ keyword: 'example' })
  return ajv
}

export const strictAjv = makeAjv(false)

/**
 * A response object schema whose properties are all present in every answer except `optional` (absent
 * in some answers, e.g. a list leaves them out): sets `required` accordingly, for the OpenAPI
 * document and for serialization (core/http/components.ts requires every property otherwise).
 */
export function withOptional<T extends { properties: object }>(schema: T, ...optional: (keyof T['properties'] & string)[]): T & { required: string[] } {
  return { ...schema, required: Object.keys(schema.properties).filter((k) => !optional.includes(k as keyof T['properties'] & string)) }
}

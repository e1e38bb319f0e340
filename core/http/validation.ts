import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'
import { isAccountingDate } from '../kernel/dates'

// Bodies are validated strictly: no type coercion ("100" is not an amount) and unknown fields are
// refused rather than silently dropped. Query strings and params are strings on the wire, so they
// are coerced.
function makeAjv(coerce: boolean): Ajv {
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

const bodyAjv = makeAjv(false)
const queryAjv = makeAjv(true)

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : queryAjv
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>
}

import Ajv from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

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
  ajv.addKeyword({ keyword: 'example' })
  return ajv
}

const bodyAjv = makeAjv(false)
const queryAjv = makeAjv(true)

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : queryAjv
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>
}

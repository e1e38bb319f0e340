import type { FastifySchemaCompiler } from 'fastify'
import { makeAjv, strictAjv } from '../kernel/schema'

const bodyAjv = strictAjv
const queryAjv = makeAjv(true)

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : queryAjv
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>
}

import type { FastifyInstance } from 'fastify'

type Schema = Record<string, unknown>

const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The response convention: every property a response object lists is always present (nullable ones
 * as `null`), unless the object says otherwise with its own `required`. Returns a copy of `schema`
 * in which each object with properties and no `required` requires them all. fast-json-stringify then
 * refuses to answer without one, so the document a generated client trusts is also what is sent.
 */
export function withRequired<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(withRequired) as T
  if (!isObject(schema)) return schema
  const out: Schema = {}
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && isObject(value)) out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withRequired(v)]))
    else if (['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf', 'not', 'if', 'then', 'else'].includes(key)) out[key] = withRequired(value)
    else out[key] = value
  }
  if (isObject(out.properties) && Object.keys(out.properties).length > 0 && out.required === undefined) out.required = Object.keys(out.properties)
  return out as T
}

/**
 * Response schemas of every route get `withRequired` (registered on the root app, before the routes,
 * so it runs for every route of every child plugin).
 */
export function registerResponseConvention(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const response = route.schema?.response
    if (isObject(response)) route.schema = { ...route.schema, response: Object.fromEntries(Object.entries(response).map(([status, s]) => [status, withRequired(s)])) }
  })
}

/**
 * A named component schema (`components.schemas.<name>` in the OpenAPI document): add it with
 * `app.addSchema(component('Invoice', invoiceSchema))` in the routes plugin that answers with it and
 * answer with `ref('Invoice')`.
 */
export function component(name: string, schema: object): Schema {
  return { $id: name, ...withRequired(schema as Schema) }
}

/** A `$ref` to a component added with `component` (fastify resolves `Name#`; the document shows `#/components/schemas/Name`). */
export function ref(name: string, description?: string): { $ref: string; description?: string } {
  return description ? { $ref: `${name}#`, description } : { $ref: `${name}#` }
}

import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import t from 'tap'
import { buildSpec, SPEC_PATH, withOfflineApp } from '../scripts/generate-spec'
import { CATALOG } from '../core/kernel/errors'
import { makeAjv } from '../core/kernel/schema'
import { setupTestEnv, type ApiResponse } from './helpers/app'
import { buildApp } from '../core/http/app'

const METHODS = ['get', 'put', 'post', 'delete', 'patch'] as const

/**
 * Every route the app serves, from fastify's route tree (`printRoutes` with full segments): each
 * line is a path segment nested under its parent, optionally followed by `(METHODS)`.
 */
function routesFromTree(tree: string): { method: string; url: string }[] {
  const stack: string[] = []
  const routes: { method: string; url: string }[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│├└─\s]*)(\S.*?)(?: \(([A-Z, ]+)\))?$/.exec(line)
    if (!m) continue
    const depth = m[1].length / 4
    stack.length = depth
    stack.push(m[2])
    for (const method of m[3]?.split(', ') ?? []) routes.push({ method: method.toLowerCase(), url: stack.join('') })
  }
  return routes
}

/** Which operations were added or removed, to say at a glance why the spec is stale. */
function pathDiff(generated: string, committed: string): string {
  const ops = (json: string) => {
    try {
      const paths: Record<string, object> = JSON.parse(json).paths ?? {}
      return new Set(Object.entries(paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`)))
    } catch {
      return new Set<string>()
    }
  }
  const [now, before] = [ops(generated), ops(committed)]
  const added = [...now].filter((o) => !before.has(o))
  const removed = [...before].filter((o) => !now.has(o))
  return (added.length ? ` (new: ${added.join(', ')})` : '') + (removed.length ? ` (gone: ${removed.join(', ')})` : '')
}

t.test('api-spec/openapi.json is current', async (t) => {
  const generated = await buildSpec()
  const committed = fs.existsSync(SPEC_PATH) ? fs.readFileSync(SPEC_PATH, 'utf8') : ''
  // One assertion with a plain message: a JSON diff of the whole spec would bury the instruction.
  t.ok(generated === committed, `api-spec/openapi.json differs from the route schemas: run \`npm run spec\`${pathDiff(generated, committed)}`)
})

t.test('the spec documents every /v1 operation', async (t) => {
  const spec = JSON.parse(await buildSpec())
  t.match(spec.openapi, /^3\.\d+\.\d+$/, 'OpenAPI 3.x')
  t.ok(spec.info?.title && spec.info?.version, 'info')

  const paths = Object.keys(spec.paths)
  t.ok(paths.length > 0, 'has paths')
  t.strictSame(paths.filter((p) => !p.startsWith('/v1/')), [], 'only /v1 routes (ops and docs are hidden)')
  for (const [path, item] of Object.entries<Record<string, { responses?: Record<string, unknown> }>>(spec.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (!op) continue
      t.ok(op.responses && Object.keys(op.responses).length > 0, `${method.toUpperCase()} ${path} declares responses`)
    }
  }

  // Compare with what the app actually routes.
  const routes = await withOfflineApp(async (app) => routesFromTree(app.printRoutes({ commonPrefix: false })))
  const served = routes.filter((r) => r.url.startsWith('/v1/') && r.method !== 'head')
  t.ok(served.length > 0, `found ${served.length} /v1 routes`)
  const missing = served
    .map((r) => ({ ...r, path: r.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') }))
    .filter((r) => !spec.paths[r.path]?.[r.method])
    .map((r) => `${r.method.toUpperCase()} ${r.url}`)
  t.strictSame(missing, [], 'every /v1 route is in the spec')
})

// ---- what a generated client relies on (issue #15) ------------------------------------------------

type Json = Record<string, any>
const specJson = (): Json => JSON.parse(fs.readFileSync(SPEC_PATH, 'utf8'))

function operations(spec: Json): { method: string; path: string; op: Json }[] {
  return Object.entries<Json>(spec.paths).flatMap(([path, item]) => METHODS.filter((m) => item[m]).map((method) => ({ method, path, op: item[method] })))
}

/** A response object, following a `$ref` to components.responses. */
function resolve(spec: Json, obj: Json): Json {
  return obj.$ref ? spec.components.responses[obj.$ref.split('/').pop()] : obj
}

t.test('every operation has a unique operationId', async (t) => {
  const ops = operations(specJson())
  const missing = ops.filter((o) => !o.op.operationId).map((o) => `${o.method.toUpperCase()} ${o.path}`)
  t.strictSame(missing, [], 'no operation without operationId')
  const ids = ops.map((o) => o.op.operationId)
  t.strictSame(ids.filter((id, i) => ids.indexOf(id) !== i), [], 'no duplicate operationId')
  for (const id of ids) t.match(id, /^[a-z][A-Za-z]+$/, `${id} is camelCase`)
  const byRoute = Object.fromEntries(ops.map((o) => [`${o.method.toUpperCase()} ${o.path}`, o.op.operationId]))
  t.equal(byRoute['GET /v1/invoices'], 'listInvoices')
  t.equal(byRoute['POST /v1/payments'], 'createPayment')
  t.equal(byRoute['GET /v1/customers/{id}'], 'getCustomer')
  t.equal(byRoute['POST /v1/invoices/{id}/void'], 'voidInvoice')
  t.equal(byRoute['GET /v1/customers/{id}/statement'], 'getCustomerStatement')
})

t.test('every response object schema says which properties are required', async (t) => {
  const spec = specJson()
  const missing: string[] = []
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}/${i}`))
    if (!node || typeof node !== 'object') return
    const schema = node as Json
    // Objects that are only maps (additionalProperties, no properties) have nothing to require.
    if (schema.properties && Object.keys(schema.properties).length > 0 && !Array.isArray(schema.required)) missing.push(where)
    for (const [k, v] of Object.entries(schema)) walk(v, `${where}/${k}`)
  }
  for (const { method, path, op } of operations(spec)) walk(op.responses, `${method.toUpperCase()} ${path}`)
  walk(spec.components.schemas, 'components/schemas')
  t.strictSame(missing, [], 'no response object without required')
  // Spot check: what issue #15's client tripped on is now required.
  t.ok(spec.components.schemas.Invoice.required.includes('id'), 'an invoice always has its id')
  t.ok(spec.components.schemas.ApiKeyWithSecret.required.includes('secret'), 'a created key always has its secret')
  t.notOk(spec.components.schemas.ApiKey.properties.secret, 'a listed key has no secret at all')
})

t.test('named component schemas, referenced by the operations; Error codes are the catalogue', async (t) => {
  const spec = specJson()
  const names = Object.keys(spec.components.schemas)
  for (const name of ['Customer', 'Invoice', 'Payment', 'CreditNote', 'Refund', 'WriteOff', 'Adjustment', 'Sale', 'Allocation', 'Period', 'JournalEntry', 'WebhookEndpoint', 'Event', 'ApiKey', 'Tenant', 'Dispute', 'Error']) {
    t.ok(names.includes(name), `components.schemas.${name}`)
  }
  const ops = Object.fromEntries(operations(spec).map((o) => [o.op.operationId, o.op]))
  const schemaOf = (id: string, status: string) => ops[id].responses[status].content['application/json'].schema
  t.strictSame(schemaOf('createInvoice', '201'), { $ref: '#/components/schemas/Invoice' })
  t.strictSame(schemaOf('listInvoices', '200').properties.data.items, { $ref: '#/components/schemas/Invoice' })
  t.strictSame(schemaOf('getCustomer', '200'), { $ref: '#/components/schemas/Customer' })
  t.strictSame(schemaOf('createPayment', '4XX'), { $ref: '#/components/schemas/Error' })

  const error = spec.components.schemas.Error.properties.error.properties
  t.strictSame([...error.code.enum].sort(), Object.keys(CATALOG).sort(), 'Error.code is an enum of the whole catalogue')
  t.strictSame([...error.type.enum].sort(), [...new Set(Object.values(CATALOG).map((e) => e.type))].sort(), 'Error.type is an enum of the types')
})

t.test('one content type per response', async (t) => {
  const spec = specJson()
  const mixed = operations(spec).flatMap(({ method, path, op }) =>
    Object.entries<Json>(op.responses)
      .filter(([, r]) => Object.keys(resolve(spec, r).content ?? {}).length > 1)
      .map(([status]) => `${method.toUpperCase()} ${path} ${status}`),
  )
  t.strictSame(mixed, [], 'no response mixes content types')
  const ops = Object.fromEntries(operations(spec).map((o) => [o.op.operationId, o.op]))
  t.strictSame(Object.keys(ops.getCustomerStatement.responses['200'].content), ['application/json'])
  t.strictSame(Object.keys(ops.getCustomerStatementCsv.responses['200'].content), ['text/csv'])
  t.strictSame(Object.keys(ops.getCustomerStatementPdf.responses['200'].content), ['application/pdf'])
})

t.test('servers, license, contact; tags described and grouped into platform and merchant', async (t) => {
  const spec = specJson()
  t.ok(spec.servers?.length > 0 && spec.servers[0].url, 'servers')
  t.ok(spec.info.license?.name, 'info.license')
  t.ok(spec.info.contact?.name, 'info.contact')
  const declared = new Map<string, string>(spec.tags.map((tag: Json) => [tag.name, tag.description]))
  const used = new Set(operations(spec).flatMap((o) => o.op.tags ?? []))
  t.strictSame([...used].filter((tag) => !declared.get(tag)), [], 'every tag an operation uses is declared with a description')
  const groups = new Map<string, string[]>(spec['x-tagGroups'].map((g: Json) => [g.name, g.tags]))
  t.strictSame([...groups.keys()], ['Platform', 'Merchant'])
  t.strictSame([...declared.keys()].filter((tag) => ![...groups.values()].some((g) => g.includes(tag))), [], 'every tag is in a group')
  const platformOps = operations(spec).filter((o) => o.op.tags?.some((tag: string) => groups.get('Platform')?.includes(tag)))
  t.strictSame(
    platformOps.map((o) => o.op.operationId).sort(),
    ['createTenant', 'listDeadLetters', 'pauseTenant', 'republishStuckEvents', 'resumeTenant', 'retryDeadLetter', 'setTenantJobSettings'],
    'the platform group holds the operations of the platform token',
  )
})

t.test('Redocly lint (recommended rules): no errors, no warnings', async (t) => {
  let out: string
  try {
    out = execFileSync(process.execPath, [require.resolve('@redocly/cli/bin/cli.js'), 'lint', SPEC_PATH, '--format=json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
  } catch (err) {
    // Exit code 1 when there are errors: the report is still on stdout.
    out = (err as { stdout?: string }).stdout ?? ''
  }
  const report = JSON.parse(out.slice(out.indexOf('{')))
  const problems = (report.problems as Json[]).map((p) => `${p.severity} ${p.ruleId}: ${p.message} (${p.location?.[0]?.pointer ?? ''})`)
  t.equal(report.totals.errors, 0, `no lint errors${problems.length ? `:\n${problems.join('\n')}` : ''}`)
  t.equal(report.totals.warnings, 0, 'no lint warnings')
})

t.test('every header the app sends is declared for its operation and status', async (t) => {
  const spec = specJson()
  const env = await setupTestEnv(t)
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  // Framing headers every HTTP answer has, and the attachment name of downloads.
  const FRAMING = new Set(['content-type', 'content-length', 'date', 'connection', 'keep-alive', 'content-disposition'])
  const seen = new Set<string>()
  const check = (method: string, template: string, res: ApiResponse) => {
    const responses = spec.paths[template][method].responses
    const status = String(res.statusCode)
    const response = resolve(spec, responses[status] ?? responses[`${status[0]}XX`])
    const declared = new Set(Object.keys(response.headers ?? {}).map((h) => h.toLowerCase()))
    const sent = Object.keys(res.headers).filter((h) => !FRAMING.has(h))
    sent.forEach((h) => seen.add(h))
    t.strictSame(sent.filter((h) => !declared.has(h)), [], `${method.toUpperCase()} ${template} ${status}: the headers it sent (${sent.join(', ')}) are declared`)
  }

  const body = { name: 'Bäckerei Schmidt GmbH' }
  const created = await api.post('/v1/customers', body, { 'idempotency-key': 'hdr-1' })
  t.equal(created.statusCode, 201)
  check('post', '/v1/customers', created)
  const replayed = await api.post('/v1/customers', body, { 'idempotency-key': 'hdr-1' })
  t.equal(replayed.headers['idempotent-replayed'], 'true')
  check('post', '/v1/customers', replayed)
  check('get', '/v1/customers/{id}', await api.get(`/v1/customers/${created.body.id}`))
  const missing = await api.get('/v1/customers/cus_00000000000000000000000000')
  t.equal(missing.statusCode, 404)
  check('get', '/v1/customers/{id}', missing)
  // A second app on the same database and Redis with a tiny limit: this tenant's key runs out.
  const strict = await buildApp({ config: { ...env.config, RATE_LIMIT_MAX: 3 }, db: env.db, redis: env.redis }, { logger: false })
  t.teardown(() => strict.close())
  let limited: ApiResponse | undefined
  for (let i = 0; i < 10 && !limited; i++) {
    const res = await strict.inject({ method: 'GET', url: '/v1/customers', headers: { authorization: `Bearer ${tenant.key}` } })
    if (res.statusCode === 429) limited = { statusCode: res.statusCode, headers: res.headers, body: res.json(), raw: res.body }
  }
  if (!limited) throw new Error('never rate limited')
  check('get', '/v1/customers', limited)
  for (const h of ['request-id', 'etag', 'idempotent-replayed', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'retry-after']) t.ok(seen.has(h), `${h} was sent (and checked)`)
})

t.test('the examples of the main operations are valid against their schemas, in a real currency', async (t) => {
  const spec = specJson()
  const ajv = makeAjv(false)
  const valid = (schema: Json, value: unknown, what: string) => {
    // The document's own `#/components/...` references resolve inside this wrapper.
    const validate = ajv.compile({ ...schema, components: spec.components })
    t.ok(validate(value), `${what}: ${ajv.errorsText(validate.errors)}`)
  }
  const ops = Object.fromEntries(operations(spec).map((o) => [o.op.operationId, o.op]))
  for (const id of ['createCustomer', 'createInvoice', 'createPayment', 'createSale', 'createCreditNote']) {
    const request = ops[id].requestBody.content['application/json']
    const response = ops[id].responses['201'].content['application/json']
    t.ok(request.example && response.example, `${id} has a request and a response example`)
    valid(request.schema, request.example, `${id} request example`)
    valid(response.schema, response.example, `${id} response example`)
    t.equal((response.example.currency ?? response.example.invoice?.currency).toUpperCase(), 'EUR', `${id}: a real currency`)
  }
  // Generated samples (/docs) come from field examples: no random 3-letter "currencies" or digit soup tax rates.
  const createInvoiceBody = ops.createInvoice.requestBody.content['application/json'].schema
  t.strictSame(createInvoiceBody.properties.currency.examples, ['EUR'])
  t.strictSame(createInvoiceBody.properties.lines.items.properties.tax_rate.examples, ['0.19'])
})

import t from 'tap'
import fc from 'fast-check'
import { setupTestEnv, PLATFORM_TOKEN, type TestEnv } from './helpers/app'
import { newId } from '../core/kernel/ids'

// Issue 10, "Also build": a property-based fuzz of every POST and PATCH route, generated from the
// route schemas of the running app (`app.swagger()`, the source of api-spec/openapi.json). For each
// generated request: never a 5xx; a 4xx carries the error envelope; a refused request writes no row
// (row count and newest row version, xmin, of every table of the database, before and after; only
// the sequence table document_sequences is left out); no answer holds an unpaired UTF-16 surrogate.
// Valid-ish bodies come from the schemas (types, enums, patterns, formats, bounds, required fields,
// ids of fixtures of the tenant, of another tenant, or of nothing); hostile ones break one field
// (wrong type, huge or non-finite number, NUL, lone surrogate, deep nesting), add fields, or are no
// object at all (null, empty, arrays, broken JSON, other media types); path ids go hostile too.
//
// FUZZ_RUNS: generated requests per route (default 30); FUZZ_SEED: the seed (default fixed).
// A failure names the seed and the counterexample; rerun with FUZZ_SEED=<seed> to reproduce.

const RUNS = Math.max(1, Number(process.env.FUZZ_RUNS ?? 30))
const SEED = Number(process.env.FUZZ_SEED ?? 20261130)
/** At least this many requests must have been fuzzed, or the fuzz silently tested nothing. */
const FLOOR_PER_ROUTE = RUNS
const MIN_ROUTES = 30

type Schema = Record<string, any>

/** A JSON text spliced as is into the serialized body (numbers JSON.stringify cannot write). */
class Raw {
  constructor(readonly text: string) {}
}
const raw = (text: string) => new Raw(text)

function toJson(v: unknown): string {
  if (v instanceof Raw) return v.text
  if (v === undefined) return 'null'
  if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`
  if (v && typeof v === 'object') {
    return `{${Object.entries(v)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

const SHOW_MAX = Number(process.env.FUZZ_SHOW_MAX ?? 600)

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : toJson(v)
  return s.length > SHOW_MAX ? `${s.slice(0, SHOW_MAX)}… (${s.length} chars)` : s
}

// ---------------------------------------------------------------------------------------------
// Hostile values

const LONE = ['\ud800', 'a\udc00b', '\udbff', 'x\ud83d']
const hostileString = fc.oneof(
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', ...LONE, '\u202e\u200b', '💥'.repeat(3), "'; drop table customers; --", '%00', '../../etc/passwd', '<script>', '{}', 'null', '1e400'),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.nat({ max: 100_000 }).map((n) => 'x'.repeat(n)),
)
const hugeNumber = fc.oneof(
  fc.constantFrom<unknown>(-1, 0, 1.5, -0.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, Number.MAX_SAFE_INTEGER, 900719925474100, 5e-324),
  fc.constantFrom(raw('1e400'), raw('-1e400'), raw('123456789012345678901234567890'), raw('1.0'), raw('-0'), raw('1E2'), raw('0.1e-400')),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
)
const deep = (depth: number, leaf: unknown = 1): unknown => {
  let v = leaf
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v }
  return v
}
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  hugeNumber,
  fc.constantFrom<unknown>(null, true, false, [], {}, [null], { '': 1 }, [1, 'a', null]),
  fc.integer({ min: 20, max: 80 }).map((d) => deep(d)),
  fc.jsonValue({ maxDepth: 3 }),
)

// ---------------------------------------------------------------------------------------------
// Ids: own fixtures of the tenant, another tenant's, fresh ones that exist nowhere

type IdPools = { own: Map<string, string[]>; foreign: Map<string, string[]> }

function freshId(prefix: string): string {
  if (prefix === 'ten') return `ten_${newId('x').slice(2, 18).padEnd(32, '0').replace(/[^0-9a-f]/g, 'a')}`
  return newId(prefix)
}

function idArb(prefixes: string[], pools: IdPools): fc.Arbitrary<string> {
  const own = prefixes.flatMap((p) => pools.own.get(p) ?? [])
  const foreign = prefixes.flatMap((p) => pools.foreign.get(p) ?? [])
  const arbs: fc.WeightedArbitrary<string>[] = [{ weight: 1, arbitrary: fc.constantFrom(...prefixes).map(freshId) }]
  if (own.length) arbs.push({ weight: 6, arbitrary: fc.constantFrom(...own) })
  if (foreign.length) arbs.push({ weight: 2, arbitrary: fc.constantFrom(...foreign) })
  return fc.oneof(...arbs)
}

function idPrefixes(pattern: string | undefined): string[] | null {
  const m = pattern && /^\^\(?([a-z|]+)\)?_\[/.exec(pattern)
  return m ? m[1].split('|') : null
}

// ---------------------------------------------------------------------------------------------
// Valid-ish values from a JSON schema (types, enums, patterns, formats, bounds, required fields)

const dateArb = fc.oneof(
  { weight: 8, arbitrary: fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2027-06-30T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)) },
  { weight: 1, arbitrary: fc.constantFrom('1900-01-01', '9989-12-31', '9999-12-31', '1899-12-31', '2026-02-30', '2026-13-01', '0000-01-01', '2026-1-1') },
  { weight: 1, arbitrary: fc.date({ min: new Date('1900-01-01T00:00:00Z'), max: new Date('9989-12-31T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)) },
)

function typesOf(s: Schema): string[] {
  if (Array.isArray(s.type)) return s.type
  if (s.type) return [s.type]
  if (s.properties) return ['object']
  if (s.items) return ['array']
  if (s.enum) return ['enum']
  return ['string', 'number', 'boolean', 'null']
}

function fromSchema(s: Schema, pools: IdPools, key = ''): fc.Arbitrary<unknown> {
  if (s.enum) return fc.constantFrom(...s.enum)
  if (s.const !== undefined) return fc.constant(s.const)
  const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined
  if (alts) return fc.oneof(...alts.map((a) => fromSchema({ ...s, anyOf: undefined, oneOf: undefined, ...a }, pools, key)))
  const types = typesOf(s)
  const arbs = types.map((type) => forType(type, s, pools, key))
  // null is allowed but rarely the interesting case
  if (types.length > 1 && types.includes('null')) return fc.oneof({ weight: 4, arbitrary: fc.oneof(...arbs.filter((_, i) => types[i] !== 'null')) }, { weight: 1, arbitrary: fc.constant(null) })
  return fc.oneof(...arbs)
}

function forType(type: string, s: Schema, pools: IdPools, key: string): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null)
    case 'boolean':
      return fc.boolean()
    case 'integer':
    case 'number': {
      const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + 1 : -1_000_000)
      const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - 1 : 1_000_000)
      const small = fc.integer({ min: Math.max(min, Math.min(max, -500)), max: Math.min(max, Math.max(min, 20_000)) })
      const edges = fc.constantFrom(min, max)
      const base = fc.oneof({ weight: 6, arbitrary: small }, { weight: 1, arbitrary: edges }, { weight: 1, arbitrary: fc.integer({ min, max }) })
      if (type === 'integer') return base
      return fc.oneof(base, fc.double({ min: Math.max(min, 0), max: Math.min(max, 10), noNaN: true }))
    }
    case 'string': {
      const prefixes = idPrefixes(s.pattern)
      if (prefixes) return idArb(prefixes, pools)
      if (s.format === 'date') return dateArb
      if (s.format === 'email') return fc.oneof({ weight: 1, arbitrary: fc.emailAddress() }, { weight: 3, arbitrary: fc.constantFrom('a@example.com', 'billing+ar@shop.example', 'not-an-email') })
      if (key === 'url') return fc.oneof(fc.webUrl(), fc.constantFrom('http://127.0.0.1:9/hook', 'https://user:pw@example.com/', 'ftp://example.com', 'javascript:alert(1)', 'http://[::1]/', 'http://169.254.169.254/latest'))
      if (key === 'timezone') return fc.constantFrom('Europe/London', 'UTC', 'America/New_York', 'Mars/Olympus', '', 'Etc/GMT+14')
      if (key === 'currency' || key === 'base_currency') return fc.oneof({ weight: 4, arbitrary: fc.constantFrom('usd', 'USD', 'eur', 'jpy') }, { weight: 1, arbitrary: fc.stringMatching(/^[a-zA-Z]{3}$/) })
      if (s.pattern) return fc.stringMatching(new RegExp(s.pattern)).filter((x) => (s.maxLength === undefined || x.length <= s.maxLength) && x.length >= (s.minLength ?? 0))
      const minLength = s.minLength ?? 0
      const maxLength = Math.min(s.maxLength ?? 300, 300)
      return fc.oneof(
        { weight: 6, arbitrary: fc.string({ minLength, maxLength: Math.max(minLength, Math.min(maxLength, 24)) }) },
        { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength }) },
        { weight: 1, arbitrary: fc.constant('x'.repeat(Math.max(minLength, s.maxLength ?? 1000))) },
      )
    }
    case 'array': {
      const items = s.items ?? {}
      const maxLength = Math.min(s.maxItems ?? 5, 5)
      const minLength = Math.min(s.minItems ?? 0, maxLength)
      if (s.uniqueItems && items.enum) return fc.uniqueArray(fc.constantFrom(...items.enum), { minLength, maxLength: Math.min(s.maxItems ?? items.enum.length, items.enum.length) })
      return fc.array(fromSchema(items, pools, key), { minLength, maxLength })
    }
    case 'object': {
      const props = (s.properties ?? {}) as Record<string, Schema>
      const required = (s.required ?? []) as string[]
      const record = fc.record(
        Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, pools, k)])),
        { requiredKeys: required.filter((k) => k in props) },
      )
      if (s.additionalProperties && typeof s.additionalProperties === 'object') {
        const keyArb = fc.string({ minLength: s.propertyNames?.minLength ?? 1, maxLength: Math.min(s.propertyNames?.maxLength ?? 20, 20) })
        const extra = fc.dictionary(keyArb, fromSchema(s.additionalProperties, pools, key), { maxKeys: Math.min(s.maxProperties ?? 5, 5) })
        return fc.tuple(record, extra).map(([a, b]) => ({ ...b, ...a }))
      }
      return record
    }
    default:
      return fc.constant(null)
  }
}

// ---------------------------------------------------------------------------------------------
// Hostile bodies: a valid-ish one with one thing broken, or a body that is not an object at all

type Body = { text: string | undefined; contentType: string | undefined; note: string }

function setAt(obj: unknown, path: string[], value: unknown): unknown {
  if (!path.length) return value
  if (!obj || typeof obj !== 'object') return obj
  const copy: any = Array.isArray(obj) ? [...obj] : { ...obj }
  copy[path[0]] = setAt(copy[path[0]], path.slice(1), value)
  return copy
}

function pathsOf(v: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push([...prefix, k])
      pathsOf(x, [...prefix, k], out)
    }
  }
  return out
}

const json = (v: unknown, note: string): Body => ({ text: toJson(v), contentType: 'application/json', note })

function hostileBody(valid: fc.Arbitrary<unknown>, foreignFieldIds: fc.Arbitrary<string>): fc.Arbitrary<Body> {
  const replaceOne = fc.tuple(valid, fc.nat(), hostileValue).map(([body, i, value]) => {
    const paths = pathsOf(body)
    if (!paths.length) return json({ ...(body as object), unexpected: value }, 'extra field on an empty body')
    const p = paths[i % paths.length]
    return json(setAt(body, p, value), `${p.join('.')} := ${show(value)}`)
  })
  const extraField = fc.tuple(valid, fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', 'tenant_id', 'id', 'created_at', 'version')), hostileValue).map(([body, k, value]) =>
    k === '__proto__'
      ? { text: toJson(body).replace(/^\{/, `{"__proto__":${toJson(value)}${Object.keys(body as object).length ? ',' : ''}`), contentType: 'application/json', note: '__proto__ key' }
      : json({ ...(body as object), [k]: value }, `extra field ${JSON.stringify(k)}`),
  )
  const foreignRef = fc.tuple(valid, fc.nat(), foreignFieldIds).map(([body, i, id]) => {
    const paths = pathsOf(body).filter((p) => typeof p.reduce((o: any, k) => o?.[k], body) === 'string')
    if (!paths.length) return json(body, 'no string field')
    const p = paths[i % paths.length]
    return json(setAt(body, p, id), `${p.join('.')} := ${id}`)
  })
  const notAnObject = fc.oneof(
    fc.constantFrom<Body>(
      { text: 'null', contentType: 'application/json', note: 'null body' },
      { text: '', contentType: 'application/json', note: 'empty body' },
      { text: undefined, contentType: undefined, note: 'no body' },
      { text: '[]', contentType: 'application/json', note: 'array body' },
      { text: '"x"', contentType: 'application/json', note: 'string body' },
      { text: '42', contentType: 'application/json', note: 'number body' },
      { text: 'true', contentType: 'application/json', note: 'boolean body' },
      { text: '{', contentType: 'application/json', note: 'truncated JSON' },
      { text: '{"a":1,}', contentType: 'application/json', note: 'trailing comma' },
      { text: '{"a":1e400}', contentType: 'application/json', note: 'infinite number' },
      { text: '{"constructor":{"prototype":{"x":1}}}', contentType: 'application/json', note: 'constructor.prototype' },
      { text: '\ufeff{}', contentType: 'application/json', note: 'BOM' },
      { text: '{"name":"x"}', contentType: 'text/plain', note: 'text/plain' },
      { text: 'name=x', contentType: 'application/x-www-form-urlencoded', note: 'form body' },
      { text: '{"name":"x"}', contentType: 'application/json; charset=utf-16', note: 'utf-16 charset' },
      { text: '{"a":"\\ud800"}', contentType: 'application/json', note: 'escaped lone surrogate' },
      { text: '{"a\\u0000":1}', contentType: 'application/json', note: 'NUL in a key' },
    ),
    fc.integer({ min: 30, max: 3000 }).map((d) => ({ text: '['.repeat(d) + ']'.repeat(d), contentType: 'application/json', note: `array nesting ${d}` })),
    fc.integer({ min: 30, max: 3000 }).map((d) => ({ text: '{"a":'.repeat(d) + '1' + '}'.repeat(d), contentType: 'application/json', note: `object nesting ${d}` })),
    fc.jsonValue({ maxDepth: 4 }).map((v) => json(v, 'arbitrary JSON')),
  )
  return fc.oneof({ weight: 4, arbitrary: replaceOne }, { weight: 2, arbitrary: extraField }, { weight: 1, arbitrary: foreignRef }, { weight: 2, arbitrary: notAnObject })
}

// ---------------------------------------------------------------------------------------------
// Row snapshot: count and newest row version (xmin) of every table, all tenants (superuser)

const SEQUENCE_TABLES = ['document_sequences']

async function snapshotter(env: TestEnv) {
  // document_sequences is excluded: it is a sequence kept in a table (core/ledger/numbering.ts),
  // advanced by an autonomous transaction that a failing posting does not roll back, by design.
  const tables: string[] = (await env.admin.raw(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`)).rows
    .map((r: any) => r.tablename)
    .filter((name: string) => !SEQUENCE_TABLES.includes(name))
  // json_build_object takes at most 100 arguments (50 tables): one object per 40 tables, merged.
  const objects: string[] = []
  for (let i = 0; i < tables.length; i += 40) {
    objects.push(`jsonb_build_object(${tables.slice(i, i + 40).map((tb) => `'${tb}', (SELECT count(*) || '/' || coalesce(max(xmin::text::bigint), 0) FROM "${tb}")`).join(', ')})`)
  }
  const sql = `SELECT ${objects.join(' || ')} AS s`
  return async (): Promise<Record<string, string>> => (await env.admin.raw(sql)).rows[0].s
}

function diff(a: Record<string, string>, b: Record<string, string>): string[] {
  return Object.keys({ ...a, ...b }).filter((k) => a[k] !== b[k]).map((k) => `${k}: ${a[k]} -> ${b[k]} (count/newest xmin)`)
}

// ---------------------------------------------------------------------------------------------

function collectIds(v: unknown, into: Map<string, string[]>) {
  if (typeof v === 'string') {
    const m = /^([a-z]+)_[0-9a-z]{26}$/.exec(v) ?? /^(ten)_[0-9a-f]{32}$/.exec(v)
    if (m) {
      const list = into.get(m[1]) ?? []
      if (!list.includes(v)) list.push(v)
      into.set(m[1], list)
    }
  } else if (v && typeof v === 'object') for (const x of Object.values(v)) collectIds(x, into)
}

/** A few documents of every kind in a tenant; every id in the answers goes to the pool. */
async function fixtures(env: TestEnv, key: string, tenantId: string): Promise<Map<string, string[]>> {
  const api = env.api(key)
  const ids = new Map<string, string[]>([['ten', [tenantId]]])
  const ok = async (p: Promise<{ statusCode: number; body: any; raw: string }>, what: string) => {
    const res = await p
    if (res.statusCode >= 300) throw new Error(`fixture ${what}: ${res.statusCode} ${res.raw}`)
    collectIds(res.body, ids)
    return res.body
  }
  const cus = [await ok(api.post('/v1/customers', { name: 'Fuzz A', credit_limit: 10_000_000 }), 'customer'), await ok(api.post('/v1/customers', { name: 'Fuzz B' }), 'customer')]
  await ok(api.post('/v1/customers', { name: 'Fuzz deleted' }), 'customer').then((c) => api.delete(`/v1/customers/${c.id}`, { reason: 'fixture' }))
  const invs = []
  for (const c of cus) for (const amount of [5000, 12000]) invs.push(await ok(api.post('/v1/invoices', { customer: c.id, lines: [{ description: 'Goods', quantity: 1, unit_amount: amount }] }), 'invoice'))
  await ok(api.post('/v1/payments', { customer: cus[0].id, amount: 3000, method: 'cash', allocations: [{ invoice: invs[0].id, amount: 1000 }] }), 'payment')
  await ok(api.post('/v1/payments', { customer: cus[1].id, amount: 20000, method: 'card' }), 'payment')
  await ok(api.post('/v1/credit-notes', { customer: cus[0].id, amount: 500, reason: 'fixture' }), 'credit note')
  await ok(api.post('/v1/sales', { customer: cus[1].id, lines: [{ description: 'Sold', quantity: 2, unit_amount: 700 }] }), 'sale')
  await ok(api.post('/v1/periods', { start_date: '2025-01-01', end_date: '2025-01-31', type: 'monthly' }), 'period')
  await ok(api.post('/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hook', events: ['invoice.created'] }), 'webhook endpoint')
  await ok(api.post('/v1/reconciliations', {}), 'reconciliation')
  await ok(api.post('/v1/api-keys', { name: 'fuzz rep', role: 'sales_rep' }), 'api key')
  for (const c of cus) await ok(api.get(`/v1/customers/${c.id}/transactions`), 'transactions')
  await ok(api.get('/v1/events?limit=20'), 'events')
  await ok(api.get('/v1/allocations?limit=20'), 'allocations').catch(() => undefined)
  return ids
}

t.test('found by the fuzz: a path parameter longer than the router accepts is a 400, not a 500', async (t) => {
  const env = await setupTestEnv(t)
  const a = await env.tenant()
  const api = env.api(a.key)
  // fastify's router refuses a segment beyond maxParamLength (100) with FST_ERR_MAX_PARAM_LENGTH
  // (its 414), which the error mapping used to answer as 500 internal_error.
  for (const [method, url] of [
    ['post', `/v1/invoices/${'a'.repeat(101)}/void`],
    ['post', `/v1/transactions/txn_${'0'.repeat(2000)}/reverse`],
    ['patch', `/v1/customers/cus_${'x'.repeat(200)}`],
    ['get', `/v1/invoices/${'a'.repeat(101)}`],
  ] as const) {
    const res = await api[method](url, method === 'get' ? undefined : { reason: 'x' })
    t.equal(res.statusCode, 400, `${method} ${url.slice(0, 40)}…: ${res.raw}`)
    t.match(res.body, { error: { type: 'invalid_request', code: 'validation_failed', message: String, request_id: /^req_/ } })
  }
})

// ---------------------------------------------------------------------------------------------
// Found by this fuzz: masking a customer's phone or tax_id for roles without read_pii kept the last
// two UTF-16 code units, which can be half a surrogate pair ('ab𐠎x' → '***\udc0ex'): the answer then
// carried an unpaired surrogate, and with an Idempotency-Key the stored response could not be
// written to jsonb (500). Personal data is now absent (not masked) for those roles; the test below
// still holds the answer and its replay whole.

const UNPAIRED = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** Whether a JSON answer holds a string (value or key) with an unpaired UTF-16 surrogate. */
function hasLoneSurrogate(text: string): boolean {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return UNPAIRED.test(text)
  }
  const stack = [value]
  while (stack.length) {
    const v = stack.pop()
    if (typeof v === 'string' && UNPAIRED.test(v)) return true
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) {
      if (UNPAIRED.test(k)) return true
      stack.push(x)
    }
  }
  return false
}

t.test('an answer without personal data never carries half a surrogate pair, and replays', async (t) => {
  const env = await setupTestEnv(t)
  const a = await env.tenant()
  const cashier = await env.key(a.key, 'cashier')
  const api = env.api(cashier.secret)
  const plain = await api.post('/v1/customers', { name: 'Masked', tax_id: 'ab\u{1080E}x' })
  t.equal(plain.statusCode, 201, plain.raw)
  t.notOk(hasLoneSurrogate(plain.raw), `no unpaired surrogate in the answer: ${plain.raw.slice(0, 160)}`)
  t.notOk('tax_id' in plain.body, 'a cashier does not read back personal data')
  t.equal((await env.admin('customers').where({ id: plain.body.id }).first()).tax_id, 'ab\u{1080E}x', 'stored whole')
  const keyed = await api.post('/v1/customers', { name: 'Masked', phone: '+44 \u{1080E}x' }, { 'idempotency-key': 'mask-split' })
  t.equal(keyed.statusCode, 201, `with an Idempotency-Key: ${keyed.raw}`)
  const replay = await api.post('/v1/customers', { name: 'Masked', phone: '+44 \u{1080E}x' }, { 'idempotency-key': 'mask-split' })
  t.equal(replay.headers['idempotent-replayed'], 'true')
  t.same(replay.body, keyed.body, 'the stored answer replays')
})

type Route = { method: 'POST' | 'PATCH'; path: string; platform: boolean; body: Schema | null; params: { name: string; in: string; schema: Schema }[] }

t.test('fuzz every POST and PATCH route from its schema', async (t) => {
  const started = Date.now()
  const env = await setupTestEnv(t, { RATE_LIMIT_MAX: 1_000_000 })
  const a = await env.tenant()
  const b = await env.tenant()
  const cashier = await env.key(a.key, 'cashier')
  const pools: IdPools = { own: await fixtures(env, a.key, a.id), foreign: await fixtures(env, b.key, b.id) }
  t.comment(`fuzz seed ${SEED}, ${RUNS} runs per route (FUZZ_SEED, FUZZ_RUNS); fixtures: ${[...pools.own].map(([p, l]) => `${p}×${l.length}`).join(' ')}`)

  const spec = env.app.swagger() as any
  const routes: Route[] = []
  for (const [path, item] of Object.entries<any>(spec.paths)) {
    for (const method of ['post', 'patch'] as const) {
      const op = item[method]
      if (!op) continue
      routes.push({
        method: method.toUpperCase() as Route['method'],
        path,
        platform: path === '/v1/tenants' || path.startsWith('/v1/platform/'),
        body: op.requestBody?.content?.['application/json']?.schema ?? null,
        params: (op.parameters ?? []).filter((p: any) => p.in === 'path' || p.in === 'header'),
      })
    }
  }
  t.ok(routes.length >= MIN_ROUTES, `${routes.length} POST/PATCH routes found in the app's schemas`)

  const snapshot = await snapshotter(env)
  let total = 0
  const statuses = new Map<number, number>()

  for (const [index, route] of routes.entries()) {
    const label = `${route.method} ${route.path}`
    const validBody = route.body ? fromSchema(route.body, pools) : fc.constant({})
    const foreignIds = fc.constantFrom(...[...pools.foreign.values()].flat())
    const bodyArb: fc.Arbitrary<Body> = fc.oneof(
      { weight: 3, arbitrary: validBody.map((v) => json(v, 'valid-ish')) },
      { weight: 3, arbitrary: hostileBody(validBody, foreignIds) },
    )
    const pathParams = route.params.filter((p) => p.in === 'path')
    const paramArbs = pathParams.map((p) => {
      const prefixes = idPrefixes(p.schema?.pattern)
      const good = prefixes ? idArb(prefixes, pools) : fc.oneof(fc.constantFrom('events', 'webhooks', 'reconciliation'), fc.string({ maxLength: 20 }).map(encodeURIComponent))
      const bad = fc.constantFrom('x', '%00', '%ED%A0%80', '%FF', '%', 'cus_%00', '..%2F..%2Fv1', 'a'.repeat(2000), encodeURIComponent("' or 1=1 --"), newId('cus').toUpperCase())
      return fc.oneof({ weight: 5, arbitrary: good }, { weight: 1, arbitrary: bad })
    })
    const headerArb = route.params.some((p) => p.in === 'header' && p.name === 'if-match')
      ? fc.option(fc.oneof(fc.constantFrom('"1"', '"2"', '*', 'W/"1"', '', '"\u0000"'), fc.string({ maxLength: 120 })), { nil: undefined })
      : fc.constant(undefined)
    const authArb = route.platform
      ? fc.constantFrom<[string | null, string]>([PLATFORM_TOKEN, 'platform'], [PLATFORM_TOKEN, 'platform'], [PLATFORM_TOKEN, 'platform'], [a.key, 'tenant admin'], [null, 'none'])
      : fc.constantFrom<[string | null, string]>([a.key, 'admin'], [a.key, 'admin'], [a.key, 'admin'], [a.key, 'admin'], [a.key, 'admin'], [a.key, 'admin'], [cashier.secret, 'cashier'], [null, 'none'])
    const idemArb = fc.option(fc.oneof({ weight: 6, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.constantFrom('fuzz-fixed-key', 'x'.repeat(256), '', 'key\twith tab') }), { nil: undefined, freq: 4 })

    let before = await snapshot()
    let count = 0
    const property = fc.asyncProperty(fc.tuple(...paramArbs), bodyArb, headerArb, authArb, idemArb, async (params, body, ifMatch, [key, who], idem) => {
      let i = 0
      const url = route.path.replace(/\{[^}]+\}/g, () => String(params[i++]))
      const headers: Record<string, string> = {}
      if (key) headers.authorization = `Bearer ${key}`
      if (body.contentType) headers['content-type'] = body.contentType
      if (ifMatch !== undefined) headers['if-match'] = ifMatch
      if (idem !== undefined) headers['idempotency-key'] = idem
      const res = await env.app.inject({ method: route.method, url, headers, ...(body.text !== undefined ? { payload: body.text } : {}) })
      count++
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (process.env.FUZZ_DEBUG && body.note === 'valid-ish') t.comment(`${label} ${res.statusCode} ${res.body.slice(0, 200)} <- ${show(body.text ?? '').slice(0, 200)}`)
      const what = () => `${route.method} ${show(url)} as ${who}${idem !== undefined ? ` idempotency-key ${show(idem)}` : ''}${ifMatch !== undefined ? ` if-match ${show(ifMatch)}` : ''} [${body.note}] body ${show(body.text ?? '(none)')} -> ${res.statusCode} ${show(res.body)}`
      if (res.statusCode >= 500) throw new Error(`5xx: ${what()}`)
      else if (hasLoneSurrogate(res.body)) throw new Error(`answer carries an unpaired UTF-16 surrogate: ${what()}`)
      if (res.statusCode >= 400) {
        let parsed: any
        try {
          parsed = JSON.parse(res.body)
        } catch {
          throw new Error(`4xx without a JSON body: ${what()}`)
        }
        const e = parsed?.error
        if (!e || typeof e.type !== 'string' || typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.request_id !== 'string' || !e.request_id) {
          throw new Error(`4xx without the error envelope: ${what()}`)
        }
        const after = await snapshot()
        const changed = diff(before, after)
        if (changed.length) {
          before = after
          throw new Error(`refused request wrote rows (${changed.join('; ')}): ${what()}`)
        }
      } else {
        before = await snapshot()
      }
    })
    const seed = (SEED + index * 7919) | 0
    const out = await fc.check(property, { seed, numRuns: RUNS, endOnFailure: true })
    total += count
    if (out.failed) {
      const msg = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance)
      t.fail(`${label}: ${msg}\n  reproduce: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS} (route seed ${seed}, path ${out.counterexamplePath})`)
    } else {
      t.pass(`${label}: ${count} requests, no 5xx, envelopes, nothing written when refused`)
    }
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  t.comment(`fuzzed ${total} requests over ${routes.length} routes in ${seconds} s (seed ${SEED}); statuses ${[...statuses].sort(([x], [y]) => x - y).map(([s, n]) => `${s}×${n}`).join(' ')}`)
  t.ok(total >= routes.length * FLOOR_PER_ROUTE, `fuzzed ${total} requests, at least ${routes.length * FLOOR_PER_ROUTE}`)
  const ok2xx = [...statuses].filter(([s]) => s < 300).reduce((n, [, c]) => n + c, 0)
  t.ok(ok2xx >= routes.length, `some generated requests were accepted (${ok2xx}), so valid-ish bodies reach the handlers`)
})

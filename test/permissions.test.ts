import t from 'tap'
import { newId } from '../core/kernel/ids'
import { BUILT_IN_ROLES, PERMISSIONS, ROLES, type Permission } from '../core/kernel/permissions'
import { ROUTE_PERMISSIONS, routeKey } from '../core/http/access'
import { setupTestEnv, type ApiResponse, type TestEnv } from './helpers/app'

/**
 * The permission matrix (issue 11): every key route of the OpenAPI document × every built-in role,
 * plus a custom role limited to its own customers that holds every customer-scoped permission ×
 * {own tenant, other tenant} × {assigned, unassigned customer} for the limited roles. Each answer is
 * checked against the one table (core/http/access.ts, core/kernel/permissions.ts):
 *
 * - a role without a route's permissions gets 403 `permission_denied`, whatever the target;
 * - an id (in the path or the body) of another tenant is 404; for a limited role, so is anything of
 *   a customer not assigned to it, on reads, lists, filters and writes alike;
 * - otherwise the route answers (reads 200; writes get past the permission gate: never 403/5xx);
 * - no answer carries a field the role may not view (personal data, balances), and no answer to a
 *   limited role carries an id of another customer or of that customer's rows.
 *
 * Writes on existing ids are sent to well-formed ids that do not exist (allowed → 404, refused →
 * 403) and to foreign or unassigned ids with valid bodies (404): the fixtures are never changed, so
 * every role sees the same tenant.
 */

const PII = { email: 'matrix.pii@example.com', phone: '+15550199001', tax_id: 'TAX-MATRIX-77', billing_address: { line1: '77 Matrix Way', country: 'DE' } }
const PII_STRINGS = [PII.email, PII.phone, PII.tax_id, '77 Matrix Way']
const SCOPED_CUSTOM = 'rep_plus'

interface Fixture {
  cus: string
  inv: string
  inv2: string
  pay: string
  alc: string
  cn: string
  ref: string
  wo: string
  adj: string
  sale: string
  txn: string
  evt: string
  ntf: string
  dsp: string
}

interface TenantFixtures {
  key: string
  mine: Fixture
  other: Fixture
  per: string
  we: string
  rec: string
  je: string
  keyId: string
  role: string
  nch: string
  str: string
}

async function ok(res: Promise<ApiResponse>, what: string): Promise<any> {
  const r = await res
  if (r.statusCode >= 300) throw new Error(`fixture ${what}: ${r.statusCode} ${r.raw}`)
  return r.body
}

async function customerFixture(env: TestEnv, key: string, assignedTo: string | null, name: string): Promise<Fixture> {
  const api = env.api(key)
  const cus = (await ok(api.post('/v1/customers', { name, ...PII, credit_limit: 10_000_000, ...(assignedTo ? { assigned_to: assignedTo } : {}) }), 'customer')).id
  const line = (amount: number) => [{ description: 'Goods', quantity: 1, unit_amount: amount }]
  const inv = (await ok(api.post('/v1/invoices', { customer: cus, lines: line(10_000) }), 'invoice')).id
  const inv2 = (await ok(api.post('/v1/invoices', { customer: cus, lines: line(5_000) }), 'invoice')).id
  const payment = await ok(api.post('/v1/payments', { customer: cus, amount: 3_000, method: 'cash', allocations: [{ invoice: inv, amount: 1_000 }] }), 'payment')
  const cn = (await ok(api.post('/v1/credit-notes', { customer: cus, amount: 500, reason: 'matrix' }), 'credit note')).id
  const ref = (await ok(api.post('/v1/refunds', { customer: cus, amount: 100, method: 'cash', reason: 'matrix' }), 'refund')).id
  const wo = (await ok(api.post('/v1/write-offs', { invoice: inv2, amount: 100, reason: 'matrix' }), 'write-off')).id
  const adj = (await ok(api.post('/v1/adjustments', { customer: cus, amount: 50, reason: 'matrix' }), 'adjustment')).id
  const sale = (await ok(api.post('/v1/sales', { customer: cus, lines: line(700) }), 'sale')).id
  const dsp = (await ok(api.post('/v1/disputes', { type: 'billing_error', invoice: inv2, amount: 10, reason: 'matrix' }), 'dispute')).id
  const txn = (await ok(api.get(`/v1/customers/${cus}/transactions?limit=1`), 'transactions')).data[0].id
  const events = (await ok(api.get('/v1/events?limit=100'), 'events')).data as { id: string; data: { object: { id: string; customer?: string } } }[]
  const evt = events.find((e) => e.data.object.customer === cus)!.id
  const ntf = (await ok(api.post('/v1/notifications', { customer: cus, template: 'payment_reminder' }), 'notification')).id
  await ok(api.post(`/v1/customers/${cus}/communications`, { type: 'call', direction: 'outbound', summary: 'matrix' }), 'communication')
  return { cus, inv, inv2, pay: payment.id, alc: payment.allocations?.[0]?.id ?? payment.applied?.[0]?.id ?? newId('alc'), cn, ref, wo, adj, sale, txn, evt, dsp, ntf }
}

async function tenantFixtures(env: TestEnv): Promise<{ fx: TenantFixtures; keys: Record<string, string> }> {
  const tenant = await env.tenant()
  const api = env.api(tenant.key)
  const keys: Record<string, string> = {}
  let repId = ''
  for (const role of ROLES) {
    const k = await ok(api.post('/v1/api-keys', { name: role, role, ...(role === 'sales_rep' ? { user: 'rep.one' } : {}) }), 'key')
    keys[role] = k.secret
    if (role === 'sales_rep') repId = k.id
  }
  const customerScoped = (Object.keys(PERMISSIONS) as Permission[]).filter((p) => PERMISSIONS[p].scope === 'customer')
  const role = await ok(api.post('/v1/roles', { name: SCOPED_CUSTOM, permissions: customerScoped, own_customers_only: true }), 'role')
  const plus = await ok(api.post('/v1/api-keys', { name: 'plus', role: role.id, user: 'rep.one' }), 'key')
  keys[SCOPED_CUSTOM] = plus.secret
  // A channel nothing listens on (no worker runs here): notifications stay queued.
  const nch = (await ok(api.post('/v1/notification-channels', { name: 'matrix', plugin: 'email-smtp', config: { host: '127.0.0.1', port: 9, from: 'matrix@example.com' } }), 'channel')).id
  // The rep's customer is assigned to its user label, the custom role's key shares it.
  const mine = await customerFixture(env, tenant.key, 'rep.one', 'Mine')
  const other = await customerFixture(env, tenant.key, null, 'Other')
  const per = (await ok(api.post('/v1/periods', { start_date: '2025-01-01', end_date: '2025-01-31', type: 'monthly' }), 'period')).id
  const we = (await ok(api.post('/v1/webhook-endpoints', { url: 'http://127.0.0.1:9/hook', events: ['invoice.created'] }), 'endpoint')).id
  const rec = (await ok(api.post('/v1/reconciliations', {}), 'reconciliation')).id
  const je = (await ok(api.get('/v1/journal-entries?limit=1'), 'journal')).data[0].id
  const str = (await ok(api.post('/v1/statement-runs', { from: '2025-01-01', to: '2025-01-31', customers: [mine.cus], deliver: 'none' }), 'statement run')).id
  return { fx: { key: tenant.key, mine, other, per, we, rec, je, keyId: repId, role: role.id, nch, str }, keys }
}

/** The fixture id a path parameter names, by the resource before it. */
function idFor(path: string, param: string, f: Fixture, tf: TenantFixtures, missing: boolean): string | null {
  const resource = path.split('/')[2]
  const byResource: Record<string, [string, string | undefined]> = {
    customers: ['cus', f.cus],
    invoices: ['inv', f.inv],
    payments: ['pay', f.pay],
    allocations: ['alc', f.alc],
    'credit-notes': ['cn', f.cn],
    refunds: ['ref', f.ref],
    'write-offs': ['wo', f.wo],
    disputes: ['dsp', f.dsp],
    adjustments: ['adj', f.adj],
    sales: ['sale', f.sale],
    transactions: ['txn', f.txn],
    events: ['evt', f.evt],
    periods: ['per', tf.per],
    'webhook-endpoints': ['we', tf.we],
    reconciliations: ['rec', tf.rec],
    'journal-entries': ['je', tf.je],
    'api-keys': ['key', tf.keyId],
    roles: ['role', tf.role],
    'approval-requests': ['apr', undefined],
    'credit-limit-requests': ['clr', undefined],
    'notification-channels': ['nch', tf.nch],
    notifications: ['ntf', f.ntf],
    'statement-runs': ['str', tf.str],
    imports: ['imp', undefined],
    'credit-policy': ['cpr', undefined],
  }
  if (param === 'delivery') return newId('whd')
  if (param === 'evidence_id') return newId('dev')
  if (param === 'statement') return newId('stm')
  if (param === 'key') return 'payment_reminder'
  if (param === 'name') return 'matrix-none'
  if (param === 'version') return '999999' // a credit-policy version no fixture has
  const [prefix, id] = byResource[resource] ?? [null, undefined]
  if (!prefix) return null
  return missing || !id ? newId(prefix) : id
}

/** Customer-owned resources (their ids answer 404 to a limited key when the customer is not its). */
const CUSTOMER_OWNED = new Set(['customers', 'invoices', 'payments', 'allocations', 'credit-notes', 'refunds', 'write-offs', 'adjustments', 'sales', 'transactions', 'events', 'disputes', 'notifications'])

/** A valid body for a write, aimed at the customer (and its documents) of `f`. */
function bodyFor(method: string, path: string, f: Fixture): unknown {
  const line = [{ description: 'Matrix', quantity: 1, unit_amount: 100 }]
  const bodies: Record<string, unknown> = {
    'POST /v1/invoices': { customer: f.cus, lines: line },
    'POST /v1/sales': { customer: f.cus, lines: line },
    'POST /v1/payments': { customer: f.cus, amount: 10, method: 'cash' },
    'POST /v1/credit-notes': { customer: f.cus, amount: 10, reason: 'matrix' },
    'POST /v1/refunds': { customer: f.cus, amount: 10, method: 'cash', reason: 'matrix' },
    'POST /v1/write-offs': { invoice: f.inv2, amount: 10, reason: 'matrix' },
    'POST /v1/adjustments': { customer: f.cus, amount: 10, reason: 'matrix' },
    'POST /v1/allocations': { source: f.pay, invoice: f.inv, amount: 1 },
    'PATCH /v1/customers/{id}': { name: 'Matrix' },
    'PATCH /v1/invoices/{id}': { metadata: { matrix: 'yes' } },
    'PATCH /v1/payments/{id}': { metadata: { matrix: 'yes' } },
    'PATCH /v1/credit-notes/{id}': { metadata: { matrix: 'yes' } },
    'PATCH /v1/sales/{id}': { metadata: { matrix: 'yes' } },
    'PATCH /v1/webhook-endpoints/{id}': { description: 'matrix' },
    'PATCH /v1/roles/{id}': { description: 'matrix' },
    'PUT /v1/plugins/{name}': { enabled: false },
    'POST /v1/customers/{id}/restore': { reason: 'matrix' },
    'DELETE /v1/customers/{id}': { reason: 'matrix' },
    'POST /v1/periods/{id}/close': {},
    'POST /v1/periods/{id}/lock': {},
    'POST /v1/events/{id}/redeliver': {},
    'POST /v1/webhook-endpoints/{id}/rotate-secret': {},
    'POST /v1/customers/{id}/credit-limit-requests': { credit_limit: 1, reason: 'matrix' },
    'PATCH /v1/settings': { approvals: { refund_over: null } },
    'POST /v1/notifications': { customer: f.cus, template: 'payment_reminder' },
    'POST /v1/customers/{id}/communications': { type: 'note', direction: 'outbound', summary: 'matrix' },
    'POST /v1/customers/{id}/consents': { purpose: 'email', granted: true, source: 'matrix' },
    'PATCH /v1/notification-channels/{id}': { name: 'matrix' },
    'POST /v1/notification-channels/{id}/test': { to: 'nobody@example.com' },
    'POST /v1/notifications/{id}/retry': {},
    // An invalid text proves the gate without changing the fixture tenant's templates.
    'PUT /v1/notification-templates/{key}': { body: '{{matrix_probe}}' },
    'POST /v1/disputes/{id}/resolve': { outcome: 'rejected', resolution: 'matrix' },
    'POST /v1/customers/{id}/merge': { into: f.cus, reason: 'matrix' },
  }
  return bodies[`${method} ${path}`] ?? (method === 'DELETE' ? undefined : { reason: 'matrix' })
}

/** Objects in an answer that show fields the access may not view. */
function forbiddenFields(body: unknown, perms: ReadonlySet<Permission>): string[] {
  const found: string[] = []
  const hidePii = !perms.has('customers.pii.view')
  const hideBalance = !perms.has('customers.balance.view')
  const check = (o: Record<string, unknown>, where: string) => {
    for (const f of ['email', 'phone', 'tax_id', 'billing_address', 'shipping_address']) if (hidePii && f in o) found.push(`${where}.${f}`)
    for (const f of ['balance', 'credit_limit', 'temporary_credit_limit', 'credit_hold', 'grace_period_days', 'suspension_override_until']) if (hideBalance && f in o) found.push(`${where}.${f}`)
  }
  const walk = (v: unknown, where: string) => {
    if (!v || typeof v !== 'object') return
    if (Array.isArray(v)) return v.forEach((x, i) => walk(x, `${where}[${i}]`))
    const o = v as Record<string, unknown>
    if (o.object === 'customer') check(o, where)
    if (o.object === 'audit_log_entry' && o.entity_type === 'customer') for (const s of ['before', 'after']) if (o[s] && typeof o[s] === 'object') check(o[s] as Record<string, unknown>, `${where}.${s}`)
    for (const [k, x] of Object.entries(o)) walk(x, `${where}.${k}`)
  }
  walk(body, 'body')
  return found
}

t.test('permission matrix: every route × role × tenant × customer', async (t) => {
  const env = await setupTestEnv(t, { RATE_LIMIT_MAX: 1_000_000 })
  const own = await tenantFixtures(env)
  const foreign = await tenantFixtures(env)
  const spec = env.app.swagger() as { paths: Record<string, Record<string, { security?: unknown[] }>> }

  // Every key route of the document has an entry in the table, and every entry is a route.
  const specRoutes = new Set<string>()
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const method of Object.keys(ops)) {
      const key = routeKey(method.toUpperCase(), path.replace(/\{(\w+)\}/g, ':$1'))
      if (ROUTE_PERMISSIONS[key]) specRoutes.add(`${method.toUpperCase()} ${path}`)
    }
  }
  t.equal(specRoutes.size, Object.keys(ROUTE_PERMISSIONS).length, 'every table entry is a documented route')

  const roles: Record<string, { perms: ReadonlySet<Permission>; scoped: boolean }> = {}
  for (const r of ROLES) roles[r] = { perms: new Set(BUILT_IN_ROLES[r].permissions), scoped: BUILT_IN_ROLES[r].ownCustomersOnly }
  roles[SCOPED_CUSTOM] = { perms: new Set((Object.keys(PERMISSIONS) as Permission[]).filter((p) => PERMISSIONS[p].scope === 'customer')), scoped: true }

  const otherIds = new Set([...Object.values(own.fx.other)])
  let requests = 0
  const failures: string[] = []
  const expect = (cond: boolean, what: string) => {
    if (!cond) failures.push(what)
  }

  for (const route of [...specRoutes].sort()) {
    const [method, path] = route.split(' ')
    const table = ROUTE_PERMISSIONS[routeKey(method, path.replace(/\{(\w+)\}/g, ':$1'))]
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1])
    const resource = path.split('/')[2]
    const write = method !== 'GET'
    const bodyCustomer = write && !params.length && JSON.stringify(bodyFor(method, path, own.fx.mine)).includes(own.fx.mine.cus)

    for (const [role, { perms, scoped }] of Object.entries(roles)) {
      const allowed = table === 'authenticated' || table.every((p) => perms.has(p))
      // Targets: [label, fixture, tenant, expectation when allowed]
      const targets: [string, Fixture, TenantFixtures, 'ok' | 'missing'][] = [['own/mine', own.fx.mine, own.fx, 'ok']]
      // A template key names a text every tenant has (its own or the default), never another tenant's row.
      if ((params.length && resource !== 'notification-templates') || bodyCustomer) targets.push(['foreign', foreign.fx.mine, foreign.fx, 'missing'])
      if ((params.length && CUSTOMER_OWNED.has(resource)) || bodyCustomer) targets.push(['own/other', own.fx.other, own.fx, scoped ? 'missing' : 'ok'])

      for (const [label, f, tf, when] of targets) {
        // Writes on an existing id of the own tenant go to a missing id: the fixtures never change.
        const probeMissing = write && params.length > 0 && label !== 'foreign' && when === 'ok'
        const ids = params.map((p) => idFor(path, p, f, tf, probeMissing))
        if (ids.some((x) => x === null)) continue
        let url = path
        params.forEach((p, i) => (url = url.replace(`{${p}}`, ids[i]!)))
        let body = write ? bodyFor(method, path, f) : undefined
        // Tenant-level creates: an invalid body proves the gate without creating anything.
        if (write && !params.length && !bodyCustomer) body = { matrix_probe: true }
        const api = env.api((label === 'foreign' ? own : own).keys[role])
        const res = await (api as any)[method.toLowerCase()](url, body)
        requests++
        const tag = `${role} ${method} ${url} (${label})`
        if (!allowed) {
          expect(res.statusCode === 403 && res.body?.error?.code === 'permission_denied', `${tag}: want 403, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
          continue
        }
        if (when === 'missing' || probeMissing) {
          const tolerate = probeMissing && ['roles', 'plugins', 'notification-templates'].includes(resource) // built-in role names, unknown plugins: 4xx of their own
          expect(res.statusCode === 404 || (tolerate && res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 403), `${tag}: want 404, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
        } else if (write) {
          expect(res.statusCode !== 403 && res.statusCode !== 404 && res.statusCode < 500, `${tag}: want past the gate, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
        } else {
          const fixtureMissing = params.includes('delivery') || params.includes('name') || params.includes('evidence_id') || params.includes('statement') || ['approval-requests', 'credit-limit-requests', 'imports', 'credit-policy'].includes(resource)
          expect(res.statusCode === 200 || (fixtureMissing && res.statusCode === 404), `${tag}: want 200, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
        }
        if (res.statusCode < 300) {
          const leaked = forbiddenFields(res.body, perms)
          expect(!leaked.length, `${tag}: forbidden fields ${leaked.join(', ')}`)
          if (!perms.has('customers.pii.view')) expect(!PII_STRINGS.some((s) => res.raw.includes(s)), `${tag}: personal data in the answer`)
          if (scoped) {
            const seen = [...otherIds].filter((id) => res.raw.includes(id))
            expect(!seen.length, `${tag}: another customer's rows: ${seen.join(', ')}`)
          }
        }
      }
    }
  }
  // List filters: `?customer=` of the own assigned customer, of an unassigned one and of another
  // tenant's, on every list that takes it.
  for (const route of [...specRoutes].sort()) {
    const [method, path] = route.split(' ')
    const op = spec.paths[path][method.toLowerCase()] as { parameters?: { name: string; in: string }[] }
    if (method !== 'GET' || !op.parameters?.some((p) => p.in === 'query' && p.name === 'customer')) continue
    const table = ROUTE_PERMISSIONS[routeKey(method, path)]
    for (const [role, { perms, scoped }] of Object.entries(roles)) {
      const allowed = table === 'authenticated' || table.every((p) => perms.has(p))
      for (const [label, f, visible] of [['mine', own.fx.mine, true], ['other', own.fx.other, !scoped], ['foreign', foreign.fx.mine, false]] as const) {
        const res = await env.api(own.keys[role]).get(`${path}?customer=${f.cus}`)
        requests++
        const tag = `${role} GET ${path}?customer= (${label})`
        if (!allowed) expect(res.statusCode === 403, `${tag}: want 403, got ${res.statusCode}`)
        else if (!visible) expect(res.statusCode === 404 && res.body.error.param === 'customer', `${tag}: want 404, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
        else {
          const some = res.body.data?.length > 0 || ['/v1/approval-requests', '/v1/credit-limit-requests'].includes(path) // no fixtures of those
          expect(res.statusCode === 200 && some && res.body.data.every((d: { customer: string }) => d.customer === f.cus), `${tag}: want its rows, got ${res.statusCode} ${res.raw.slice(0, 200)}`)
        }
      }
    }
  }

  t.ok(requests > 1500, `${requests} requests`)
  t.same(failures.slice(0, 40), [], `${failures.length} mismatches`)
  t.comment(`permission matrix: ${requests} requests over ${specRoutes.size} routes and ${Object.keys(roles).length} roles, ${failures.length} mismatches`)
})

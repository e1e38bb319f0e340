import t from 'tap'
import { PLATFORM_TOKEN, setupTestEnv, type TestEnv } from './helpers/app'
import { customer } from './helpers/ledger'
import { setSessionCookie } from '../core/http/console-session'

/** The console's session (core/console, API.md "Console"): cookie, CSRF, cross-site refusal, scoping, sign-out. */

type Res = { statusCode: number; headers: Record<string, unknown>; body: any; raw: string }

async function call(env: TestEnv, method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, opts: { cookie?: string; csrf?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
  const res = await env.app.inject({
    method,
    url,
    headers: { ...(opts.cookie ? { cookie: `recv_console=${opts.cookie}` } : {}), ...(opts.csrf ? { 'x-csrf-token': opts.csrf } : {}), ...opts.headers },
    ...(opts.body !== undefined ? { payload: opts.body as object } : {}),
  })
  let body: unknown = res.body
  try {
    body = JSON.parse(res.body)
  } catch {
    /* not JSON */
  }
  return { statusCode: res.statusCode, headers: res.headers as Record<string, unknown>, body, raw: res.body }
}

function sessionCookie(res: Res): { value: string; attrs: string[] } {
  const raw = res.headers['set-cookie']
  const line = (Array.isArray(raw) ? raw : [raw]).find((c) => typeof c === 'string' && c.startsWith('recv_console=')) as string
  const [pair, ...attrs] = line.split(';').map((s) => s.trim())
  return { value: pair.slice('recv_console='.length), attrs }
}

async function signIn(env: TestEnv, key: string) {
  const res = await call(env, 'POST', '/console/session', { body: { api_key: key } })
  if (res.statusCode !== 201) throw new Error(`sign-in: ${res.statusCode} ${res.raw}`)
  return { cookie: sessionCookie(res).value, csrf: res.body.csrf_token as string, res }
}

t.test('the cookie is Secure when the request came over TLS', async (t) => {
  const set: Record<string, unknown>[] = []
  const reply = { setCookie: (_name: string, _value: string, opts: Record<string, unknown>) => set.push(opts) }
  const expires = new Date(Date.now() + 3600_000)
  setSessionCookie({ protocol: 'https' } as never, reply as never, 'token', expires)
  setSessionCookie({ protocol: 'http' } as never, reply as never, 'token', expires)
  t.match(set, [
    { secure: true, httpOnly: true, sameSite: 'strict', expires, maxAge: 3600 },
    { secure: false, httpOnly: true, sameSite: 'strict' },
  ])
})

t.test('console session', async (t) => {
  const env = await setupTestEnv(t)
  const tenant = await env.tenant({ name: 'Acme Stores' })
  const other = await env.tenant({ name: 'Other Co' })
  const api = env.api(tenant.key)
  const ada = await customer(api, { name: 'Ada', email: 'ada@example.com', credit_limit: 5000 })
  const foreign = await customer(env.api(other.key), { name: 'Foreign' })
  const customerCount = async () => Number((await env.admin('customers').where({ tenant_id: tenant.uuid }).count('* as n'))[0].n)

  await t.test('sign-in sets an HttpOnly, SameSite=Strict cookie with an expiry, never the key', async (t) => {
    const { res, cookie } = await signIn(env, tenant.key)
    t.equal(res.statusCode, 201)
    const { attrs } = sessionCookie(res)
    t.ok(attrs.includes('HttpOnly'), 'HttpOnly')
    t.ok(attrs.includes('SameSite=Strict'), 'SameSite=Strict')
    t.ok(attrs.includes('Path=/'), 'whole origin')
    t.notOk(attrs.includes('Secure'), 'not Secure over plain HTTP')
    const maxAge = attrs.find((a) => a.startsWith('Max-Age='))
    t.equal(maxAge, 'Max-Age=28800', 'eight hours')
    const expires = Date.parse(attrs.find((a) => a.startsWith('Expires='))!.slice('Expires='.length))
    t.ok(expires > Date.now() + 7 * 3600_000 && expires <= Date.now() + 8 * 3600_000 + 1000, 'expires in eight hours')
    t.match(cookie, /^ten_[0-9a-f]{32}\.[A-Za-z0-9_-]{43}$/)
    t.notOk(res.raw.includes(tenant.key), 'the key is not echoed')
    t.notOk(String(res.headers['set-cookie']).includes(tenant.key), 'the key is not the cookie')
    t.match(res.body, { object: 'console_session', tenant: { id: tenant.id, name: 'Acme Stores' }, role: 'admin', key: { id: /^key_/ }, csrf_token: /.+/ })
    t.ok(res.body.permissions.includes('customers.balance.view'))
    t.equal(res.headers['cache-control'], 'no-store')
    const stored = await env.admin('console_sessions').where({ tenant_id: tenant.uuid })
    t.equal(stored.length, 1)
    t.not(stored[0].id, cookie, 'the token is stored hashed')
    t.match(stored[0].id, /^[0-9a-f]{64}$/)
  })

  await t.test('a bad key is refused and opens no session', async (t) => {
    const before = await env.admin('console_sessions').count('* as n')
    const bad = await call(env, 'POST', '/console/session', { body: { api_key: 'sk_test_nope' } })
    t.equal(bad.statusCode, 401)
    t.equal(bad.body.error.code, 'invalid_api_key')
    t.equal(bad.headers['set-cookie'], undefined)
    const missing = await call(env, 'POST', '/console/session', { body: {} })
    t.equal(missing.statusCode, 400)
    t.same(await env.admin('console_sessions').count('* as n'), before)
    const forged = await call(env, 'GET', '/v1/customers', { cookie: `${tenant.id}.${'A'.repeat(43)}` })
    t.equal(forged.statusCode, 401)
    t.equal(forged.body.error.code, 'invalid_session')
    const garbage = await call(env, 'GET', '/v1/customers', { cookie: 'garbage' })
    t.equal(garbage.statusCode, 401)
  })

  await t.test('the cookie reads like the key; a state change needs the CSRF token', async (t) => {
    const { cookie, csrf } = await signIn(env, tenant.key)
    const list = await call(env, 'GET', '/v1/customers', { cookie })
    t.equal(list.statusCode, 200, list.raw)
    t.same(list.body.data.map((c: any) => c.id), [ada])
    const me = await call(env, 'GET', '/console/session', { cookie })
    t.equal(me.statusCode, 200)
    t.equal(me.body.role, 'admin')
    t.match(me.body.csrf_token, /.+/)

    const before = await customerCount()
    const noToken = await call(env, 'POST', '/v1/customers', { cookie, body: { name: 'Bob' } })
    t.equal(noToken.statusCode, 403)
    t.equal(noToken.body.error.code, 'csrf_token_invalid')
    // One character changed: a token that starts with 'x' already gets a 'y' (else the "wrong" token is the right one).
    const wrong = await call(env, 'POST', '/v1/customers', { cookie, csrf: (csrf[0] === 'x' ? 'y' : 'x') + csrf.slice(1), body: { name: 'Bob' } })
    t.equal(wrong.statusCode, 403)
    t.equal(wrong.body.error.code, 'csrf_token_invalid')
    const patch = await call(env, 'PATCH', `/v1/customers/${ada}`, { cookie, body: { name: 'Ada X' } })
    t.equal(patch.statusCode, 403)
    t.equal(await customerCount(), before, 'nothing written')

    // Another session's token does not pass on this one.
    const second = await signIn(env, tenant.key)
    const crossed = await call(env, 'POST', '/v1/customers', { cookie, csrf: second.csrf, body: { name: 'Bob' } })
    t.equal(crossed.statusCode, 403)

    const ok = await call(env, 'POST', '/v1/customers', { cookie, csrf, body: { name: 'Bob' } })
    t.equal(ok.statusCode, 201, ok.raw)
    t.equal(await customerCount(), before + 1)
    const fresh = await call(env, 'POST', '/v1/customers', { cookie, csrf: me.body.csrf_token, body: { name: 'Cy' } })
    t.equal(fresh.statusCode, 201, 'the token from GET /console/session works too')
    const audit = await env.admin('audit_log').where({ tenant_id: tenant.uuid, entity_id: ok.body.id }).first('actor')
    t.match(audit?.actor, /^key_/, 'audited as the key')
  })

  await t.test('the cookie is refused cross-site', async (t) => {
    const { cookie, csrf } = await signIn(env, tenant.key)
    const crossRead = await call(env, 'GET', '/v1/customers', { cookie, headers: { 'sec-fetch-site': 'cross-site' } })
    t.equal(crossRead.statusCode, 403)
    t.equal(crossRead.body.error.code, 'cross_site_request')
    const before = await customerCount()
    const crossWrite = await call(env, 'POST', '/v1/customers', { cookie, csrf, body: { name: 'Eve' }, headers: { 'sec-fetch-site': 'cross-site' } })
    t.equal(crossWrite.statusCode, 403)
    const badOrigin = await call(env, 'POST', '/v1/customers', { cookie, csrf, body: { name: 'Eve' }, headers: { origin: 'https://evil.example' } })
    t.equal(badOrigin.statusCode, 403)
    t.equal(badOrigin.body.error.code, 'cross_site_request')
    const nullOrigin = await call(env, 'POST', '/v1/customers', { cookie, csrf, body: { name: 'Eve' }, headers: { origin: 'null' } })
    t.equal(nullOrigin.statusCode, 403)
    t.equal(await customerCount(), before, 'nothing written')
    const sameOrigin = await call(env, 'POST', '/v1/customers', { cookie, csrf, body: { name: 'Dee' }, headers: { origin: 'http://localhost', 'sec-fetch-site': 'same-origin' } })
    t.equal(sameOrigin.statusCode, 201, sameOrigin.raw)
    const crossSignIn = await call(env, 'POST', '/console/session', { body: { api_key: tenant.key }, headers: { 'sec-fetch-site': 'cross-site' } })
    t.equal(crossSignIn.statusCode, 403, 'no sign-in from another site either')
  })

  await t.test("another tenant's ids answer 404 through the cookie", async (t) => {
    const { cookie, csrf } = await signIn(env, tenant.key)
    const res = await call(env, 'GET', `/v1/customers/${foreign}`, { cookie })
    t.equal(res.statusCode, 404)
    t.equal(res.body.error.code, 'resource_missing')
    const write = await call(env, 'PATCH', `/v1/customers/${foreign}`, { cookie, csrf, body: { name: 'Mine' } })
    t.equal(write.statusCode, 404)
    const theirs = await call(env, 'GET', '/v1/customers', { cookie })
    t.notOk(theirs.body.data.some((c: any) => c.id === foreign))
  })

  await t.test("a cashier's session acts with exactly the cashier's role", async (t) => {
    const cashier = await env.key(tenant.key, 'cashier')
    const { cookie, res } = await signIn(env, cashier.secret)
    t.equal(res.body.role, 'cashier')
    t.notOk(res.body.permissions.includes('customers.balance.view'))
    const one = await call(env, 'GET', `/v1/customers/${ada}`, { cookie })
    t.equal(one.statusCode, 200)
    t.equal(one.body.balance, undefined, 'no balance')
    t.equal(one.body.email, undefined, 'no PII')
    t.equal(one.body.credit_limit, undefined, 'no credit limit')
    const aging = await call(env, 'GET', '/v1/reports/aging', { cookie })
    t.equal(aging.statusCode, 403)
    t.equal(aging.body.error.code, 'permission_denied')
  })

  await t.test('revoking the key ends its sessions', async (t) => {
    const manager = await env.key(tenant.key, 'manager')
    const { cookie } = await signIn(env, manager.secret)
    t.equal((await call(env, 'GET', '/console/session', { cookie })).statusCode, 200)
    const revoke = await api.delete(`/v1/api-keys/${manager.id}`)
    t.equal(revoke.statusCode, 200, revoke.raw)
    const after = await call(env, 'GET', '/v1/customers', { cookie })
    t.equal(after.statusCode, 401)
    t.equal(after.body.error.code, 'invalid_session')
  })

  await t.test('sign-out ends the session and clears the cookie', async (t) => {
    const { cookie, csrf } = await signIn(env, tenant.key)
    const noToken = await call(env, 'DELETE', '/console/session', { cookie })
    t.equal(noToken.statusCode, 403, 'sign-out is a state change: CSRF token needed')
    const out = await call(env, 'DELETE', '/console/session', { cookie, csrf })
    t.equal(out.statusCode, 204)
    t.equal(sessionCookie(out).value, '')
    t.ok(sessionCookie(out).attrs.some((a) => a.startsWith('Expires=Thu, 01 Jan 1970')), 'cookie expired')
    t.equal((await call(env, 'GET', '/console/session', { cookie })).statusCode, 401)
    t.equal((await call(env, 'GET', '/v1/customers', { cookie })).statusCode, 401)
  })

  await t.test('sign-in and sign-out are audited: the key, the session, where from; never the cookie', async (t) => {
    const { cookie, csrf } = await signIn(env, tenant.key)
    t.equal((await call(env, 'DELETE', '/console/session', { cookie, csrf })).statusCode, 204)
    const rows = await env.admin('audit_log').where({ tenant_id: tenant.uuid, entity_type: 'console_session' }).orderBy('seq', 'desc').limit(2).select('action', 'actor', 'entity_id', 'ip', 'after')
    t.same(rows.map((r: any) => r.action), ['console.signed_out', 'console.signed_in'])
    t.equal(rows[0].entity_id, rows[1].entity_id, 'one session')
    t.match(rows[1].entity_id, /^cs_[0-9a-f]{16}$/)
    t.match(rows[1].actor, /^key_/)
    t.ok(rows[1].ip, 'with the client address')
    t.ok(rows[1].after.expires_at)
    t.notOk(JSON.stringify(rows).includes(cookie.split('.')[1]), 'the cookie is not in the audit log')
  })

  await t.test('an expired session is dead', async (t) => {
    const { cookie } = await signIn(env, tenant.key)
    await env.admin('console_sessions').where({ tenant_id: tenant.uuid }).update({ expires_at: env.admin.raw("now() - interval '1 second'") })
    const res = await call(env, 'GET', '/v1/customers', { cookie })
    t.equal(res.statusCode, 401)
    t.equal(res.body.error.code, 'invalid_session')
  })

  await t.test('the Bearer header still works and wins over a cookie', async (t) => {
    const cashier = await env.key(tenant.key, 'cashier')
    const { cookie } = await signIn(env, cashier.secret)
    const res = await call(env, 'GET', `/v1/customers/${ada}`, { cookie, headers: { authorization: `Bearer ${tenant.key}` } })
    t.equal(res.statusCode, 200)
    t.ok(res.body.balance, 'acts as the admin key of the header')
    t.equal((await api.get('/console/session')).statusCode, 401, 'the session endpoint answers the cookie only')
    t.equal((await call(env, 'GET', '/console/session')).statusCode, 401)
  })

  await t.test("the queue dashboard opens with an admin's session: read-only, tenants by name, other tenants' jobs hidden", async (t) => {
    const admin = await signIn(env, tenant.key)
    const cashier = await signIn(env, (await env.key(tenant.key, 'cashier')).secret)
    t.equal((await call(env, 'GET', '/admin/queues')).statusCode, 401, 'no cookie, no token')
    const denied = await call(env, 'GET', '/admin/queues/api/queues', { cookie: cashier.cookie })
    t.equal(denied.statusCode, 403)
    t.equal(denied.body.error.code, 'permission_denied')
    const page = await call(env, 'GET', '/admin/queues', { cookie: admin.cookie })
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /html/)
    t.equal((await call(env, 'GET', '/admin/queues/api/queues', { cookie: admin.cookie, headers: { 'sec-fetch-site': 'cross-site' } })).statusCode, 403, 'not cross-site')

    // One job of each tenant waits in the reconciliation queue (no worker runs in this file).
    t.equal((await api.post('/v1/reconciliations', {})).statusCode, 201)
    t.equal((await env.api(other.key).post('/v1/reconciliations', {})).statusCode, 201)
    const jobs = async (cookie?: string) => {
      const res = await call(env, 'GET', '/admin/queues/api/queues?activeQueue=reconciliation&status=waiting&page=1&jobsPerPage=50', cookie ? { cookie } : { headers: { authorization: `Bearer ${PLATFORM_TOKEN}` } })
      t.equal(res.statusCode, 200, res.raw.slice(0, 200))
      return (res.body.queues as any[]).find((q) => q.name === 'reconciliation').jobs as { name: string; data: any }[]
    }
    // Names come from a cache filled on first sight; the dashboard refreshes itself.
    let seen = await jobs(admin.cookie)
    for (let i = 0; i < 50 && !seen.some((j) => j.name.includes('Acme Stores')); i++) {
      await new Promise((r) => setTimeout(r, 50))
      seen = await jobs(admin.cookie)
    }
    t.equal(seen.length, 2)
    const mine = seen.find((j) => j.name.includes('Acme Stores'))
    const theirs = seen.find((j) => !j.name.includes('Acme Stores'))
    t.match(mine, { name: /^reconciliation · Acme Stores \(ten_/, data: { tenant: /^Acme Stores/, tenantId: tenant.uuid } })
    t.same(theirs, { ...theirs, name: 'reconciliation · another tenant', data: { tenant: 'another tenant' } }, "the other tenant's job shows nothing")
    const leak = JSON.stringify(seen)
    t.notOk(leak.includes(other.uuid) || leak.includes(other.id.slice(4)) || leak.includes('Other Co'), `not even its id or name: ${leak}`)

    let all = await jobs()
    for (let i = 0; i < 50 && !all.some((j) => j.name.includes('Other Co')); i++) {
      await new Promise((r) => setTimeout(r, 50))
      all = await jobs()
    }
    t.ok(all.some((j) => j.name.includes('Other Co')) && all.some((j) => j.name.includes('Acme Stores')), 'the platform operator sees every tenant by name')

    const pause = await call(env, 'PUT', '/admin/queues/api/queues/reconciliation/pause', { cookie: admin.cookie, csrf: admin.csrf })
    t.equal(pause.statusCode, 403, 'read-only through the console')
  })

  await t.test('the app and its modules are served; nothing else of node_modules', async (t) => {
    const page = await call(env, 'GET', '/console/')
    t.equal(page.statusCode, 200)
    t.match(page.headers['content-type'], /text\/html/)
    t.match(page.raw, /importmap/)
    t.match(page.headers['content-security-policy'], /script-src 'self' 'sha256-[A-Za-z0-9+/=]{44}'/)
    t.match(page.headers['content-security-policy'], /frame-ancestors 'none'/)
    t.equal((await call(env, 'GET', '/console')).statusCode, 302)
    const preact = await call(env, 'GET', '/console/vendor/preact.mjs')
    t.equal(preact.statusCode, 200)
    t.match(preact.headers['content-type'], /javascript/)
    const main = await call(env, 'GET', '/console/app/main.js')
    t.equal(main.statusCode, 200)
    t.equal((await call(env, 'GET', '/console/vendor/package.json')).statusCode, 404)
    t.equal((await call(env, 'GET', '/console/app/..%2Fmodel.ts')).statusCode, 404)
    t.equal((await call(env, 'GET', '/console/app/missing.js')).statusCode, 404)
  })
})

import t from 'tap'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { randomBytes } from 'node:crypto'
import { PLATFORM_TOKEN, setupTestEnv } from './helpers/app'
import { ADMIN_URL } from './helpers/db'
import { freePort, http, spawnProcess, waitReady } from './helpers/processes'
import { serviceEnv } from './helpers/service-env'

/**
 * What `npm start` runs: the build (`scripts/build.sh`, dist/) under plain node, no TypeScript
 * loader. It migrates a fresh database under the migrations' source names (so the sources and the
 * build agree on what ran), loads the built-in plugins from their compiled entry modules in the
 * containment pool, evaluates credit-policy rules there, and posts; started on a database the
 * sources migrated, it finds nothing pending.
 */
const ROOT = path.join(__dirname, '..')
const SOURCE_MIGRATIONS = fs.readdirSync(path.join(ROOT, 'migrations')).filter((f) => f.endsWith('.ts')).sort()

t.test('the build runs the service', async (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'recv-build-'))
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }))
  await promisify(execFile)('bash', [path.join(ROOT, 'scripts', 'build.sh'), out], { cwd: ROOT })
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(out, 'node_modules')) // as dist/ finds the repository's
  t.ok(fs.existsSync(path.join(out, 'core', 'main.js')), 'core/main.js built')
  t.notOk(fs.readdirSync(path.join(out, 'migrations')).some((f) => f.endsWith('.ts')), 'no TypeScript in the build')
  t.equal(JSON.parse(fs.readFileSync(path.join(out, 'plugins', 'coa-standard', 'manifest.json'), 'utf8')).main, 'index.js')
  t.ok(fs.existsSync(path.join(out, 'core', 'console', 'web', 'index.html')), 'console assets copied')
  const main = path.join(out, 'core', 'main.js')

  await t.test('`start` on a fresh database: migrations by their source names, plugins, rules, a posting', async (t) => {
    const name = `recv_build_${randomBytes(5).toString('hex')}`
    const admin = new pg.Client({ connectionString: ADMIN_URL })
    await admin.connect()
    t.teardown(async () => {
      await admin.query(`drop database if exists ${name} with (force)`)
      await admin.end()
    })
    const url = new URL(ADMIN_URL)
    url.pathname = `/${name}`
    const port = await freePort()
    const proc = spawnProcess(t, process.execPath, [main, 'start'], serviceEnv(url.toString(), { PORT: String(port) }))
    const base = `http://127.0.0.1:${port}`
    await waitReady(base, proc)

    const db = new pg.Client({ connectionString: url.toString() })
    await db.connect()
    const { rows } = await db.query('select name from knex_migrations order by name')
    await db.end()
    t.same(rows.map((r) => r.name), SOURCE_MIGRATIONS, 'recorded under the source names')

    const tenant = await http(base, 'POST', '/v1/tenants', { key: PLATFORM_TOKEN, body: { name: 'Built', base_currency: 'usd' } })
    t.equal(tenant.status, 201, JSON.stringify(tenant.body))
    const key = tenant.body.api_key as string
    const plugins = await http(base, 'GET', '/v1/plugins', { key })
    t.equal(plugins.status, 200)
    const names = (plugins.body.data as { name: string }[]).map((p) => p.name)
    for (const p of ['coa-standard', 'credit-policy-standard', 'email-smtp', 'retention-standard', 'sms-http', 'webhook']) t.ok(names.includes(p), `${p} loaded`)
    const customer = await http(base, 'POST', '/v1/customers', { key, body: { name: 'Ada' } })
    t.equal(customer.status, 201)
    const invoice = await http(base, 'POST', '/v1/invoices', { key, body: { customer: customer.body.id, lines: [{ description: 'Tea', quantity: 2, unit_amount: 450 }] } })
    t.equal(invoice.status, 201, JSON.stringify(invoice.body))
    t.equal(invoice.body.total, 900)
    const dry = await http(base, 'POST', '/v1/credit-policy/dry-run', {
      key,
      body: { rules: [{ name: 'any_balance', when: { '>': [{ var: 'current_balance' }, 0] }, actions: [{ type: 'warn', level: 1 }] }] },
    })
    t.equal(dry.status, 200, JSON.stringify(dry.body))
    t.equal(dry.body.evaluated, 1)
    t.equal(dry.body.summary.warn, 1, 'the rule ran in the containment pool')
    proc.child.kill('SIGTERM')
    await proc.exited
    t.equal(proc.child.exitCode, 0, proc.output().slice(-2000))
  })

  await t.test('`api` on a database the sources migrated: nothing pending', async (t) => {
    const env = await setupTestEnv(t)
    const port = await freePort()
    const proc = spawnProcess(t, process.execPath, [main, 'api'], serviceEnv(env.config.DATABASE_URL, { PORT: String(port) }))
    await waitReady(`http://127.0.0.1:${port}`, proc)
    const ready = await http(`http://127.0.0.1:${port}`, 'GET', '/ready')
    t.equal(ready.body.checks.migrations, 'ok')
  })
})

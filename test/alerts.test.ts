import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import type { Test } from 'tap'
import { buildApp } from '../core/http/app'
import { CATALOG } from '../core/kernel/errors'
import { setupTestEnv, type TestEnv } from './helpers/app'

/*
 * The alerting rules of core/ops/alerts.yml: valid for Prometheus (`promtool check rules`, from
 * Debian's `prometheus` package, installed by scripts/ensure-promtool.sh in CI) and written against
 * metrics the service really exports. Also the metrics behind them: error answers by code,
 * reconciliation and audit coverage.
 */

const RULES = join(__dirname, '..', 'core', 'ops', 'alerts.yml')
/** Series Prometheus makes itself, not the service. */
const PROMETHEUS_MADE = new Set(['up'])

/** The `expr` of every rule (single-line or folded block scalars, as the file writes them). */
function ruleExprs(text: string): { alert: string; expr: string }[] {
  const lines = text.split('\n')
  const out: { alert: string; expr: string }[] = []
  let alert = ''
  for (let i = 0; i < lines.length; i++) {
    const a = /^\s*- alert:\s*(\S+)/.exec(lines[i])
    if (a) alert = a[1]
    const m = /^(\s*)expr:\s*(.*)$/.exec(lines[i])
    if (!m) continue
    if (m[2] !== '>-' && m[2] !== '|' && m[2] !== '>') {
      out.push({ alert, expr: m[2] })
      continue
    }
    const body: string[] = []
    while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > m[1].length)) body.push(lines[++i].trim())
    out.push({ alert, expr: body.join(' ') })
  }
  return out
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan'])

/** Metric names an expression selects: identifiers that are not functions, keywords, labels or strings. */
function metricNames(expr: string): string[] {
  const e = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
  const names = [...e.matchAll(/(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter((m) => !m[2] && !PROMQL_WORDS.has(m[1].toLowerCase())).map((m) => m[1])
  return [...new Set(names)]
}

/** Metric names in a /metrics answer: declared (# TYPE) and sampled (histogram _bucket, _sum, _count). */
function exportedNames(body: string): Set<string> {
  const names = new Set<string>()
  for (const line of body.split('\n')) {
    const typed = /^# TYPE (\S+) /.exec(line)
    if (typed) names.add(typed[1])
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line)
    if (sample) names.add(sample[1])
  }
  return names
}

/** The value of one series, or undefined when absent. */
function sample(body: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of body.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line)
    if (!m || m[1] !== name) continue
    const have = (m[2] ?? '').split(',').filter(Boolean)
    if (want.length === have.length && want.every((w) => have.includes(w))) return Number(m[3])
  }
  return undefined
}

async function scrape(app: FastifyInstance): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`)
  return res.body
}

/** Scrapes until the background figures (finance, audit) are in, as Prometheus would next time. */
async function scrapeFigures(app: FastifyInstance): Promise<string> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const body = await scrape(app)
    if ((sample(body, 'tenants', { stat: 'total' }) !== undefined && sample(body, 'audit_chain_verified_rows') !== undefined) || Date.now() > deadline) return body
    await new Promise((r) => setTimeout(r, 200))
  }
}

async function freshApp(t: Test, env: TestEnv): Promise<FastifyInstance> {
  // A new app has its own registry and caches: its first scrape computes the figures anew.
  const app = await buildApp({ config: env.config, db: env.db, redis: env.redis }, { logger: false })
  await app.ready()
  t.teardown(() => app.close())
  return app
}

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0

t.test('alerting rules', { skip: promtool ? false : 'promtool is not installed (Debian package `prometheus`; scripts/ensure-promtool.sh installs it)' }, async (t) => {
  const out = execFileSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' })
  t.match(out, /SUCCESS: \d+ rules found/)
})

t.test('metrics and the rules that use them', async (t) => {
  const env = await setupTestEnv(t)
  const exprs = ruleExprs(readFileSync(RULES, 'utf8'))
  t.ok(exprs.length >= 10, `${exprs.length} rules`)

  // Three tenants: clean and recent, clean but stale, latest run failed (clean long before).
  const fresh = await env.tenant()
  const stale = await env.tenant()
  const failed = await env.tenant()
  const run = (tenant: string, id: string, status: string, count: number | null, hoursAgo: number) =>
    env.admin('reconciliation_runs').insert({
      tenant_id: tenant,
      id,
      status,
      trigger: 'manual',
      discrepancy_count: count,
      error: status === 'failed' ? 'boom' : null,
      finished_at: env.admin.raw(`now() - make_interval(hours => ?)`, [hoursAgo]),
    })
  await run(fresh.uuid, 'rec_a', 'completed', 0, 1)
  await run(stale.uuid, 'rec_b', 'completed', 0, 30)
  await run(failed.uuid, 'rec_c', 'completed', 0, 48)
  await run(failed.uuid, 'rec_d', 'failed', null, 2)

  const api = env.api(fresh.key)
  const before = await scrape(env.app)
  for (const code of Object.keys(CATALOG)) t.ok(sample(before, 'http_errors_total', { code }) !== undefined, `http_errors_total{code="${code}"} is exported from 0`)

  // A credit-limit refusal and a version conflict are counted by code.
  const cus = await api.post('/v1/customers', { name: 'Limited', credit_limit: 1000 })
  t.equal(cus.statusCode, 201, cus.raw)
  const refused = await api.post('/v1/invoices', { customer: cus.body.id, lines: [{ description: 'Big', quantity: 1, unit_amount: 90000 }] })
  t.equal(refused.body.error?.code, 'credit_limit_exceeded', refused.raw)
  const stalePatch = await api.patch(`/v1/customers/${cus.body.id}`, { name: 'Lost update' }, { 'if-match': '"99"' })
  t.equal(stalePatch.statusCode, 412, stalePatch.raw)
  const unknown = await env.app.inject({ method: 'GET', url: '/v1/nope' })
  t.equal(unknown.statusCode, 404)

  const body = await scrapeFigures(env.app)
  const delta = (code: string) => sample(body, 'http_errors_total', { code })! - sample(before, 'http_errors_total', { code })!
  t.equal(delta('credit_limit_exceeded'), 1, 'credit_limit_exceeded counted')
  t.equal(delta('version_conflict'), 1, 'version_conflict counted')
  t.equal(delta('route_not_found'), 1, 'route_not_found counted')

  t.equal(sample(body, 'tenants', { stat: 'total' }), 3)
  t.equal(sample(body, 'reconciliation_tenants', { stat: 'clean_recent' }), 1)
  t.equal(sample(body, 'reconciliation_tenants', { stat: 'stale' }), 2, 'the failed tenant’s last clean run is 48 h old')
  t.equal(sample(body, 'reconciliation_tenants', { stat: 'never' }), 0)
  t.equal(sample(body, 'reconciliation_tenants', { stat: 'last_run_failed' }), 1)
  t.equal(sample(body, 'reconciliation_coverage_ratio', { stat: 'clean_recent' }), 1 / 3)
  t.ok(sample(body, 'outbox_backlog_events', { stat: 'total' })! >= 0)
  t.ok(sample(body, 'outbox_oldest_unpublished_seconds', { stat: 'max' })! >= 0)
  t.equal(sample(body, 'audit_chain_tenants', { state: 'verified' }), 3)
  t.equal(sample(body, 'audit_chain_tenants', { state: 'broken' }), 0)
  t.ok(sample(body, 'audit_chain_verified_rows')! > 0)
  t.ok(sample(body, 'audit_chain_verification_age_seconds')! >= 0)

  // Every metric a rule names is exported: renaming a metric breaks this test, not the alerts.
  const exported = exportedNames(body)
  for (const { alert, expr } of exprs) {
    const names = metricNames(expr).filter((n) => !PROMETHEUS_MADE.has(n))
    t.ok(names.length > 0 || metricNames(expr).some((n) => PROMETHEUS_MADE.has(n)), `${alert} names a metric`)
    for (const name of names) t.ok(exported.has(name), `${alert}: ${name} is in /metrics`)
  }
  for (const name of ['reconciliation_open_discrepancies', 'reconciliation_tenants', 'audit_chain_tenants', 'jobs_processed_total', 'queue_jobs', 'webhook_deliveries_total', 'http_requests_total', 'outbox_oldest_unpublished_seconds']) {
    t.ok(exprs.some(({ expr }) => metricNames(expr).includes(name)), `a rule watches ${name}`)
  }

  await t.test('a tampered audit chain shows as broken', async (t) => {
    const victim = await env.admin('audit_log').where({ tenant_id: fresh.uuid, action: 'customer.created' }).first()
    t.ok(victim, 'an audit row to tamper with')
    await env.admin.raw('alter table audit_log disable trigger audit_log_append_only')
    try {
      await env.admin('audit_log').where({ tenant_id: fresh.uuid, seq: victim.seq }).update({ reason: 'forged' })
    } finally {
      await env.admin.raw('alter table audit_log enable trigger audit_log_append_only')
    }
    const body = await scrapeFigures(await freshApp(t, env))
    t.equal(sample(body, 'audit_chain_tenants', { state: 'broken' }), 1)
    t.equal(sample(body, 'audit_chain_tenants', { state: 'verified' }), 2)
  })
})

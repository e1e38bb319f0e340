import t from 'tap'
import fc from 'fast-check'
import { withTenant } from '../core/kernel/db/tenant'
import { customerIdsPage } from '../core/customers/service'
import { addDays } from '../core/kernel/dates'
import { applyCreditPolicy, policyContext } from '../core/workflows/credit-policy'
import { setupTestEnv } from './helpers/app'

/**
 * Model-based: random customers, invoices, payments, disputes and clock advances on a sandbox
 * tenant with the standard plugin's defaults (grace 5 days; warnings at 7, 21, 45 days; suspension
 * at 60; reactivation when nothing is overdue beyond grace). After each step a sweep runs; its
 * actions must equal what a small in-test model of the standard rules expects, and no action may
 * happen twice in one episode.
 */

const GRACE = 5
const WARNINGS = [
  [7, 1],
  [21, 2],
  [45, 3],
] as const
const SUSPEND_AFTER = 60

type Step =
  | { kind: 'invoice'; customer: number; amount: number; terms: number }
  | { kind: 'pay'; customer: number; amount: number }
  | { kind: 'dispute'; customer: number; share: number }
  | { kind: 'advance'; days: number }

interface ModelInvoice {
  id: string
  due: string
  issued: string
  outstanding: number
  disputed: number
}

interface ModelCustomer {
  id: string
  invoices: ModelInvoice[]
  advance: number
  status: 'active' | 'suspended'
  suspendedByPolicy: boolean
  inEpisode: boolean
  applied: Set<string>
}

const days = (from: string, to: string) => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000)

/** The standard rules, written out plainly: the actions a sweep should take for one customer today. */
function expectedActions(c: ModelCustomer, today: string): string[] {
  const overdueItems = c.invoices.filter((i) => days(i.due, today) > 0 && i.outstanding > i.disputed)
  const overdue = Math.max(0, overdueItems.reduce((s, i) => s + i.outstanding - i.disputed, 0) - c.advance)
  const maxDpd = overdue > 0 ? Math.max(...overdueItems.map((i) => days(i.due, today))) : 0
  const current = overdue === 0
  if (!current) c.inEpisode = true
  const wanted: string[] = []
  for (const [d, level] of WARNINGS) if (maxDpd > GRACE && maxDpd >= d) wanted.push(`warn:${level}`)
  if (maxDpd > GRACE && maxDpd >= SUSPEND_AFTER) wanted.push('suspend', 'notify:suspension_notice')
  if (c.status === 'suspended' && maxDpd <= GRACE) wanted.push('reactivate', 'notify:reactivation_notice')
  const done: string[] = []
  for (const key of wanted) {
    if (c.applied.has(key)) continue
    if (key === 'suspend') {
      if (c.status !== 'active') continue
      c.status = 'suspended'
      c.suspendedByPolicy = true
    }
    if (key === 'reactivate') {
      if (!(c.status === 'suspended' && c.suspendedByPolicy)) continue
      c.status = 'active'
      c.suspendedByPolicy = false
    }
    c.applied.add(key)
    done.push(key)
  }
  if (current && c.inEpisode) {
    c.inEpisode = false
    c.applied.clear()
  }
  return done
}

const keyOf = (a: { type: string; level?: number; template?: string }) => (a.type === 'warn' ? `warn:${a.level}` : a.type === 'notify' ? `notify:${a.template}` : a.type)

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('invoice' as const), customer: fc.integer({ min: 0, max: 2 }), amount: fc.integer({ min: 100, max: 50_000 }), terms: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('pay' as const), customer: fc.integer({ min: 0, max: 2 }), amount: fc.integer({ min: 100, max: 60_000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dispute' as const), customer: fc.integer({ min: 0, max: 2 }), share: fc.integer({ min: 1, max: 100 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), days: fc.integer({ min: 1, max: 70 }) }) },
)

t.test('sweeps follow the standard rules, once per episode', async (t) => {
  const env = await setupTestEnv(t)
  let runs = 0
  const tally: Record<string, number> = {}
  await fc.assert(
    fc.asyncProperty(fc.array(stepArb, { minLength: 6, maxLength: 16 }), async (steps) => {
      runs++
      const { key, uuid } = await env.tenant({ sandbox: true })
      const api = env.api(key)
      let today = '2099-01-01'
      await api.post('/v1/test-clock/advance', { date: today })
      const customers: ModelCustomer[] = []
      for (let i = 0; i < 3; i++) {
        const id = (await api.post('/v1/customers', { name: `C${i}` })).body.id
        customers.push({ id, invoices: [], advance: 0, status: 'active', suspendedByPolicy: false, inEpisode: false, applied: new Set() })
      }
      const ctx = policyContext(uuid, 'model-test')
      const seen = new Map<string, Set<string>>(customers.map((c) => [c.id, new Set<string>()]))
      for (const step of steps) {
        if (step.kind === 'advance') {
          today = addDays(today, step.days)
          const res = await api.post('/v1/test-clock/advance', { date: today })
          if (res.statusCode !== 200) throw new Error(res.raw)
        } else if (step.kind === 'invoice') {
          const c = customers[step.customer]
          const res = await api.post('/v1/invoices', { customer: c.id, payment_terms_days: step.terms, lines: [{ description: 'm', quantity: 1, unit_amount: step.amount }], credit_override: { reason: 'model' } })
          if (res.statusCode !== 201) throw new Error(res.raw)
          c.invoices.push({ id: res.body.id, due: res.body.due_date, issued: res.body.issue_date, outstanding: step.amount, disputed: 0 })
        } else if (step.kind === 'pay') {
          const c = customers[step.customer]
          const res = await api.post('/v1/payments', { customer: c.id, amount: step.amount, method: 'cash', auto_apply: true })
          if (res.statusCode !== 201) throw new Error(res.raw)
          let left = step.amount
          const open = c.invoices.filter((i) => i.outstanding > 0).sort((a, b) => a.due.localeCompare(b.due) || a.issued.localeCompare(b.issued) || a.id.localeCompare(b.id))
          for (const inv of open) {
            const paid = Math.min(left, inv.outstanding)
            inv.outstanding -= paid
            inv.disputed = Math.min(inv.disputed, inv.outstanding)
            left -= paid
          }
          c.advance += left
        } else {
          const c = customers[step.customer]
          const inv = c.invoices.find((i) => i.outstanding > i.disputed)
          if (!inv) continue
          const amount = Math.max(1, Math.floor(((inv.outstanding - inv.disputed) * step.share) / 100))
          await withTenant(env.admin, uuid, (trx) =>
            trx('disputes').insert({ tenant_id: uuid, id: `dsp_model${Math.random().toString(36).slice(2, 12)}`, customer_id: c.id, type: 'billing_error', invoice_id: inv.id, currency: 'usd', amount, base_amount: amount, reason: 'model', created_by: 'model' }),
          )
          inv.disputed += amount
        }

        const result = await withTenant(env.db, uuid, async (trx) => applyCreditPolicy(trx, ctx, await customerIdsPage(trx, ctx, null, 100)))
        for (const c of customers) {
          const want = expectedActions(c, today)
          const got = (result.applied.find((a) => a.customer === c.id)?.actions ?? []).map(keyOf)
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            throw new Error(`${today} after ${JSON.stringify(step)}: customer ${c.id} took ${JSON.stringify(got)}, the model expects ${JSON.stringify(want)}; model ${JSON.stringify({ ...c, applied: [...c.applied] })}`)
          }
          // No action twice in one episode, whatever the model says.
          const episode = seen.get(c.id)!
          for (const k of got) {
            if (episode.has(k)) throw new Error(`${today}: ${c.id} took ${k} twice in one episode`)
            episode.add(k)
            tally[k.split(':')[0]] = (tally[k.split(':')[0]] ?? 0) + 1
          }
          if (!c.inEpisode) episode.clear()
          const status = (await api.get(`/v1/customers/${c.id}`)).body.status
          if (status !== c.status) throw new Error(`${today}: customer ${c.id} is ${status}, the model says ${c.status}`)
        }
      }
      return true
    }),
    { numRuns: Number(process.env.MODEL_RUNS ?? 12), seed: process.env.MODEL_SEED ? Number(process.env.MODEL_SEED) : undefined, endOnFailure: true },
  )
  t.ok(runs >= 1, `${runs} random histories agreed with the model`)
  t.comment(`actions seen: ${JSON.stringify(tally)}`)
})

import { inOrder, type Trx } from '../kernel/db/knex'
import type { Facts } from '../credit-policy/facts'
import { creditScore, type Factor, type ScoreInputs } from '../credit-policy/score'
import { openItemsCte } from './open-items'

/**
 * The credit-policy facts of many customers at once (read model; only reads): one query per fact
 * group — customers and limits, open items (the aging's open-items computation, less disputes),
 * unapplied credit, disputes, payments and promises, payment history — never one per customer.
 * Money facts are base minor units: open items at their invoice's rate, unapplied credit at its
 * documents' rates (the advances lines' base amounts). Credit limits stay in the customer's
 * currency, and utilization is computed in it (exposure over the effective limit).
 */

export interface CustomerFacts {
  customer: string
  facts: Facts
  factors: Factor[]
  /** Open items per invoice are not returned; the oldest overdue due date is (for paid_since_overdue). */
  oldest_overdue_due_date: string | null
}

type Row = Record<string, any>

const num = (x: unknown) => (x === null || x === undefined ? 0 : Number(x))

/**
 * Facts as of `asOf` for `customerIds` (null: every non-deleted customer of the tenant).
 * `defaultGraceDays`: the policy's grace period, for customers without their own.
 */
export async function computeFacts(trx: Trx, tenantId: string, asOf: string, customerIds: string[] | null, defaultGraceDays: number): Promise<CustomerFacts[]> {
  const byCustomer = customerIds !== null
  const ids = customerIds ?? []
  const b = { t: tenantId, d: asOf, ids }
  const only = (col: string) => (byCustomer ? `and ${col} in (select unnest(:ids::text[]))` : '')
  // No JIT for the rest of the transaction: these plans' estimated costs (row-level security makes
  // them look expensive) start LLVM inlining and optimisation, which took 7.8 s of compilation for
  // a 0.25 s query over 10,000 customers (every sweep chunk paid it).
  await trx.raw('set local jit = off')

  const [customers, open, unapplied, disputes, payments, history] = await inOrder([
    trx.raw(
      `select c.id, c.status, c.tier, c.currency, c.credit_limit, c.temporary_credit_limit, c.temporary_credit_limit_expires_on::text as temp_expires,
              c.grace_period_days, c.suspension_override_until::text as override_until, c.credit_hold, c.metadata,
              greatest(0, :d::date - c.created_at::date) as age_days, (c.currency = t.base_currency) as in_base,
              coalesce(b.current_balance, 0) as own_current_balance
         from customers c
         join tenants t on t.tenant_id = c.tenant_id
         left join customer_balances b on b.tenant_id = c.tenant_id and b.customer_id = c.id
        where c.tenant_id = :t and c.deleted_at is null ${only('c.id')}
        order by c.id`,
      b,
    ),
    trx.raw(
      `with ${openItemsCte({ byCustomer })},
       disp as (
         select invoice_id, sum(base_amount) as amount from disputes
          where tenant_id = :t and status in ('open', 'under_review') and invoice_id is not null ${only('customer_id')}
          group by invoice_id
       ), items as (
         select o.customer_id, o.due_date, o.dpd, o.base_amount,
                least(coalesce(disp.amount, 0), greatest(o.base_amount, 0)) as disputed
           from open_items o left join disp on disp.invoice_id = o.invoice_id
       ), agg as (
         select customer_id,
                sum(base_amount) as pending,
                coalesce(sum(base_amount) filter (where dpd <= 0), 0) as a_current,
                coalesce(sum(base_amount) filter (where dpd between 1 and 30), 0) as a_1_30,
                coalesce(sum(base_amount) filter (where dpd between 31 and 60), 0) as a_31_60,
                coalesce(sum(base_amount) filter (where dpd between 61 and 90), 0) as a_61_90,
                coalesce(sum(base_amount) filter (where dpd >= 91), 0) as a_90_plus,
                coalesce(sum(base_amount - disputed) filter (where dpd > 0), 0) as overdue,
                count(*) filter (where dpd > 0 and base_amount > disputed) as overdue_count,
                coalesce(max(dpd) filter (where dpd > 0 and base_amount > disputed), 0) as max_dpd,
                min(due_date) filter (where dpd > 0 and base_amount > disputed) as oldest_due,
                coalesce(sum((base_amount - disputed) * dpd) filter (where dpd > 0), 0) as amount_days
           from items group by customer_id
       )
       select agg.*, agg.oldest_due::text as oldest_due_text,
              case when agg.oldest_due is null then 0 else (
                select coalesce(sum(round(p.amount * p.exchange_rate)), 0) from payments p
                 where p.tenant_id = :t and p.customer_id = agg.customer_id and p.status = 'succeeded'
                   and p.received_date > agg.oldest_due and p.received_date <= :d) end as paid_since
         from agg`,
      b,
    ),
    trx.raw(
      `select customer_id, sum(credit - debit) as base from journal_lines
        where tenant_id = :t and role = 'advances' and customer_id is not null and entry_date <= :d ${only('customer_id')}
        group by customer_id having sum(credit - debit) <> 0`,
      b,
    ),
    trx.raw(
      `select customer_id,
              coalesce(sum(base_amount) filter (where status in ('open', 'under_review')), 0) as open_amount,
              coalesce(sum(base_amount) filter (where status in ('open', 'under_review') and invoice_id is null), 0) as open_unlinked,
              count(*) filter (where status in ('open', 'under_review')) as open_count,
              count(*) filter (where type = 'chargeback') as chargebacks
         from disputes where tenant_id = :t ${only('customer_id')}
        group by customer_id`,
      b,
    ),
    trx.raw(
      `select coalesce(p.customer_id, q.customer_id) as customer_id, p.last_payment::text as last_payment, q.promise::text as promise
         from (select customer_id, max(received_date) as last_payment from payments
                where tenant_id = :t and status = 'succeeded' and received_date <= :d ${only('customer_id')} group by customer_id) p
         full join (select customer_id, min(promised_date) as promise from communications
                where tenant_id = :t and type = 'promise_to_pay' and promised_date >= :d ${only('customer_id')} group by customer_id) q
           on q.customer_id = p.customer_id`,
      b,
    ),
    trx.raw(
      `select coalesce(a.customer_id, w.customer_id) as customer_id, a.total, a.on_time, a.days_late, w.write_offs
         from (select a.customer_id, sum(a.base_amount) as total,
                      coalesce(sum(a.base_amount) filter (where a.effective_date <= i.due_date), 0) as on_time,
                      coalesce(sum(a.base_amount * greatest(0, a.effective_date - i.due_date)), 0) as days_late
                 from allocations a join invoices i on i.tenant_id = a.tenant_id and i.id = a.invoice_id
                where a.tenant_id = :t and a.status = 'applied' and a.effective_date <= :d ${only('a.customer_id')}
                group by a.customer_id) a
         full join (select customer_id, count(*) as write_offs from write_offs
                     where tenant_id = :t and write_off_date <= :d ${only('customer_id')} group by customer_id) w
           on w.customer_id = a.customer_id`,
      b,
    ),
  ])

  const index = (res: { rows: Row[] }) => new Map<string, Row>(res.rows.map((r) => [r.customer_id, r]))
  const openBy = index(open)
  const unappliedBy = index(unapplied)
  const disputesBy = index(disputes)
  const paymentsBy = index(payments)
  const historyBy = index(history)

  return (customers.rows as Row[]).map((c) => {
    const o = openBy.get(c.id) ?? {}
    const d = disputesBy.get(c.id) ?? {}
    const p = paymentsBy.get(c.id) ?? {}
    const h = historyBy.get(c.id) ?? {}
    const pending = num(o.pending)
    const advance = num(unappliedBy.get(c.id)?.base)
    const current = pending - advance
    const creditLimit = c.credit_limit === null ? null : Number(c.credit_limit)
    const temp = c.temporary_credit_limit === null ? null : Number(c.temporary_credit_limit)
    const tempActive = creditLimit !== null && temp !== null && c.temp_expires !== null && asOf <= c.temp_expires
    const effective = creditLimit === null ? null : tempActive ? Math.max(creditLimit, temp!) : creditLimit
    // Limits are in the customer's currency: so is the exposure utilization is measured with.
    const exposureOwn = c.in_base ? current : Number(c.own_current_balance)
    const utilization = effective === null ? null : effective === 0 ? (exposureOwn > 0 ? 999 : 0) : Math.round((exposureOwn / effective) * 10_000) / 10_000
    const grace = c.grace_period_days ?? defaultGraceDays
    // Disputes not tied to an invoice (a chargeback's reopened amounts) are not overdue either, and
    // unapplied credit (a payment not yet allocated) covers what is overdue.
    const overdue = Math.max(0, num(o.overdue) - num(d.open_unlinked) - Math.max(0, advance))
    const maxDpd = overdue > 0 ? num(o.max_dpd) : 0
    const inputs: ScoreInputs = {
      settled_on_time: num(h.on_time),
      settled_total: num(h.total),
      amount_days_late: num(h.days_late) + num(o.amount_days),
      amount_weighing: num(h.total) + overdue,
      utilization,
      account_age_days: num(c.age_days),
      disputes: num(d.open_count),
      chargebacks: num(d.chargebacks),
      write_offs: num(h.write_offs),
    }
    const { score, grade, factors } = creditScore(inputs)
    const facts: Facts = {
      today: asOf,
      status: c.status,
      tier: c.tier,
      pending_balance: pending,
      advance_balance: advance,
      current_balance: current,
      credit_limit: creditLimit,
      temporary_credit_limit: temp,
      temporary_limit_active: tempActive,
      effective_credit_limit: effective,
      exposure: current,
      utilization,
      aging: { current: num(o.a_current), d1_30: num(o.a_1_30), d31_60: num(o.a_31_60), d61_90: num(o.a_61_90), d90_plus: num(o.a_90_plus) },
      overdue_amount: overdue,
      overdue_invoice_count: overdue > 0 ? num(o.overdue_count) : 0,
      max_days_overdue: maxDpd,
      disputed_amount: num(d.open_amount),
      grace_period_days: grace,
      in_grace_period: maxDpd > 0 && maxDpd <= grace,
      paid_since_overdue: overdue > 0 ? num(o.paid_since) : 0,
      days_since_last_payment: p.last_payment ? Math.round((Date.parse(`${asOf}T00:00:00Z`) - Date.parse(`${p.last_payment}T00:00:00Z`)) / 86_400_000) : null,
      has_promise_to_pay: !!p.promise,
      promise_to_pay_date: p.promise ?? null,
      suspension_override: c.override_until !== null && c.override_until >= asOf,
      credit_hold: c.credit_hold,
      score,
      grade,
      metadata: c.metadata ?? {},
    }
    return { customer: c.id, facts, factors, oldest_overdue_due_date: overdue > 0 ? (o.oldest_due_text ?? null) : null }
  })
}

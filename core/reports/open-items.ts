/**
 * Open items as of a date: the one set-based computation the aging report and the credit-policy
 * facts share (read model; only reads). An invoice issued on or before `as_of` owes, as of then,
 * its current outstanding with every movement dated after `as_of` undone: allocations applied after
 * it (+), allocations applied by then but un-applied after it (−), write-offs after it (+), and
 * reversals after it of the invoice or of its write-offs (their AR effect, less the allocations
 * they un-applied, which the allocation terms already count). Assumes credit applied to an invoice
 * (payments and credit notes) is recorded as allocations.
 *
 * Only the few invoices touched by a movement after `as_of` need that undoing (`touched`); every
 * other invoice owes its outstanding, read straight from the open invoices, so a million open items
 * cost one pass over them.
 *
 * `openItemsCte` is SQL text with the named bindings `:t` (tenant), `:d` (as-of date) and, when
 * `byCustomer`, `:ids` (customer ids); it defines the CTE `open_items(invoice_id, customer_id,
 * due_date, exchange_rate, amount, base_amount, dpd)`: `amount` in the invoice currency, `base_amount`
 * converted at the invoice's own rate (round half up, per invoice), `dpd` = days past due.
 */
function customerFilter(byCustomer: boolean | undefined): string {
  return byCustomer ? 'and customer_id in (select unnest(:ids::text[]))' : ''
}

/** The invoices no movement after `as_of` touched owe their outstanding (see fastItems). */
function untouched(byCustomer: boolean | undefined): string {
  return `tenant_id = :t and outstanding > 0 and issue_date <= :d ${customerFilter(byCustomer)}
          and id not in (select invoice_id from touched where invoice_id is not null)`
}

/** Base amount of `amount` at `rate`, round half up (per invoice). */
const base = (amount: string, rate: string) => `case when ${rate} = 1 then ${amount} else round(${amount} * ${rate})::bigint end`

/** The invoices a movement after :d touched, with what they owed as of :d (`touched_items`). */
function touchedCtes(byCustomer: boolean | undefined): string {
  return `late_reversals as (
       select r.id, r.reverses_entry_id from journal_entries r
        where r.tenant_id = :t and r.reverses_entry_id is not null and r.entry_date > :d
     ), touched as (
       select a.invoice_id from allocations a
         left join journal_entries re on re.tenant_id = a.tenant_id and re.id = a.reversal_entry_id
        where a.tenant_id = :t and (a.effective_date > :d or (a.status = 'reversed' and coalesce(re.entry_date, a.reversed_at::date) > :d))
       union
       select invoice_id from write_offs where tenant_id = :t and write_off_date > :d
       union
       select i.id from late_reversals r join invoices i on i.tenant_id = :t and i.journal_entry_id = r.reverses_entry_id
       union
       select w.invoice_id from late_reversals r join write_offs w on w.tenant_id = :t and w.journal_entry_id = r.reverses_entry_id
     ), inv as (
       select id, customer_id, due_date, outstanding, exchange_rate, journal_entry_id
         from invoices where tenant_id = :t and issue_date <= :d and id in (select invoice_id from touched) ${customerFilter(byCustomer)}
     ), alloc_undo as (
       select a.invoice_id,
              sum(case when a.effective_date > :d then a.amount else 0 end
                - case when a.status = 'reversed' and coalesce(re.entry_date, a.reversed_at::date) > :d then a.amount else 0 end) as amount
         from allocations a
         left join journal_entries re on re.tenant_id = a.tenant_id and re.id = a.reversal_entry_id
        where a.tenant_id = :t and a.invoice_id in (select id from inv)
        group by a.invoice_id
     ), wo_undo as (
       select invoice_id, sum(amount) as amount from write_offs
        where tenant_id = :t and write_off_date > :d and invoice_id in (select id from inv) group by invoice_id
     ), rev as (
       select distinct src.invoice_id, r.id as entry_id
         from (select id as invoice_id, journal_entry_id from inv
               union all
               select invoice_id, journal_entry_id from write_offs where tenant_id = :t and invoice_id in (select id from inv)) src
         join late_reversals r on r.reverses_entry_id = src.journal_entry_id
     ), rev_undo as (
       select rev.invoice_id,
              sum((select coalesce(sum(l.tx_debit - l.tx_credit), 0) from journal_lines l
                    where l.tenant_id = :t and l.entry_id = rev.entry_id and l.role = 'ar')
                - (select coalesce(sum(a.amount), 0) from allocations a
                    where a.tenant_id = :t and a.reversal_entry_id = rev.entry_id)) as amount
         from rev group by rev.invoice_id
     ), touched_items as (
       select * from (
         select inv.id as invoice_id, inv.customer_id, inv.due_date, inv.exchange_rate,
                (inv.outstanding + coalesce(au.amount, 0) + coalesce(wu.amount, 0) - coalesce(ru.amount, 0))::bigint as amount
           from inv
           left join alloc_undo au on au.invoice_id = inv.id
           left join wo_undo wu on wu.invoice_id = inv.id
           left join rev_undo ru on ru.invoice_id = inv.id
       ) o where o.amount <> 0
     )`
}

export function openItemsCte(opts: { byCustomer?: boolean } = {}): string {
  return `${touchedCtes(opts.byCustomer)}, open_raw as (
       select id as invoice_id, customer_id, due_date, exchange_rate, outstanding as amount
         from invoices where ${untouched(opts.byCustomer)}
       union all
       select * from touched_items
     ), open_items as (
       select open_raw.*, ${base('amount', 'exchange_rate')} as base_amount, (:d::date - due_date) as dpd
         from open_raw
     )`
}

/**
 * The aging bucket of ./aging.ts (agingBucket) of a row with `due_date`, as SQL: its index in
 * AGING_BUCKETS (0 current, dpd ≤ 0; 1 for 1–30; 2 for 31–60; 3 for 61–90; 4 for 91 and more),
 * by comparing the due date with four dates computed once (dpd ≤ n ⇔ due_date ≥ as_of − n).
 */
const BUCKET_INDEX = `case when due_date >= :d::date then 0 when due_date >= :d::date - 30 then 1
                           when due_date >= :d::date - 60 then 2 when due_date >= :d::date - 90 then 3 else 4 end`

/**
 * Ten exact sums over rows with `k` (bucket index), `amount` and `base_amount`: `a0..a4`, then
 * `b0..b4`. sum_exact (a bigint state; migration 20261224000010) rather than sum(), whose 128-bit
 * state and numeric result cost a numeric per customer and bucket: a third of the aggregation.
 */
function bucketSums(): string {
  const sums = (col: string, prefix: string) => [0, 1, 2, 3, 4].map((k) => `coalesce(sum_exact(${col}) filter (where k = ${k}), 0) as ${prefix}${k}`)
  return [...sums('amount', 'a'), ...sums('base_amount', 'b')].join(', ')
}

/**
 * The same open items summed per customer, one column per aging bucket (`open_item_sums(customer_id,
 * a0..a4, b0..b4)`: amounts in the invoice currency, then in base, buckets in AGING_BUCKETS order),
 * one row per customer. Each item's bucket and base amount are computed once (the subquery is kept
 * apart with OFFSET 0, or Postgres would repeat the expressions in each of the ten sums, which costs
 * more than the sums), and a million open items go through one hash aggregate.
 */
export function openItemSumsCte(): string {
  return `${touchedCtes(false)}, open_item_sums as (
       select customer_id, ${bucketSums()}
         from (select customer_id, amount, ${base('amount', 'exchange_rate')} as base_amount, ${BUCKET_INDEX} as k
                 from (select customer_id, due_date, exchange_rate, outstanding as amount from invoices where ${untouched(false)}
                       union all
                       select customer_id, due_date, exchange_rate, amount from touched_items) items
               offset 0) items
        group by customer_id
     )`
}

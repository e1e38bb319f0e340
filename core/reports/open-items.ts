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

/** The tenant's invoices open today and issued by `as_of`. */
const OPEN_NOW = `tenant_id = :t and outstanding > 0 and issue_date <= :d`

/** The invoices no movement after `as_of` touched owe their outstanding (see the module comment). */
function untouched(byCustomer: boolean | undefined): string {
  return `${OPEN_NOW} ${customerFilter(byCustomer)}
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
              ${byCustomer ? 'and a.customer_id in (select unnest(:ids::text[]))' : ''}
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
 * The aging buckets of ./aging.ts (agingBucket) as ranges of `due_date`, in AGING_BUCKETS order:
 * current (dpd ≤ 0), 1–30, 31–60, 61–90, 91 and more (dpd ≤ n ⇔ due_date ≥ as_of − n). Plain date
 * comparisons, so each of the ten sums filters its rows without a bucket index computed per row.
 */
const BUCKET_RANGES = [
  `due_date >= :d::date`,
  `due_date < :d::date and due_date >= :d::date - 30`,
  `due_date < :d::date - 30 and due_date >= :d::date - 60`,
  `due_date < :d::date - 60 and due_date >= :d::date - 90`,
  `due_date < :d::date - 90`,
]
/** The sums' columns, in order: amounts per bucket, then base amounts per bucket. */
export const AMOUNT_COLUMNS = [...BUCKET_RANGES.map((_, k) => `a${k}`), ...BUCKET_RANGES.map((_, k) => `b${k}`)]

/**
 * Ten exact sums over rows with `due_date`: `amount` per bucket (`a0..a4`), then `baseAmount`
 * (`b0..b4`). sum_exact (a bigint state; migration 20261224000010) rather than sum(), whose 128-bit
 * state and numeric result cost a numeric per customer and bucket.
 */
function bucketSums(amount: string, baseAmount: string): string {
  return `${bucketed(amount, 'a')}, ${bucketed(baseAmount, 'b')}`
}

/** Five exact sums of `value`, one per aging bucket, named `${prefix}0..4`. */
function bucketed(value: string, prefix: string): string {
  return BUCKET_RANGES.map((range, k) => `coalesce(sum_exact(${value}) filter (where ${range}), 0) as ${prefix}${k}`).join(', ')
}

/**
 * The same open items summed per customer, one column per aging bucket (`open_item_sums(customer_id,
 * a0..a4, b0..b4)`: amounts in the invoice currency, then in base, buckets in AGING_BUCKETS order),
 * one row per customer with at least one open item.
 *
 * Sums are linear, so the million open invoices are summed as they stand today (`open_sums`), and
 * the few invoices a movement after `as_of` touched are corrected apart (`correction_sums`): their
 * amount as of then added, what the scan counted for them taken back, with its base amount computed
 * the same way per invoice so that it cancels exactly. `n` counts a customer's open items the same
 * way, so a customer whose only items the correction takes back has no row.
 *
 * `open_sums` is two grouped passes in customer order, each off a covering index and without
 * hashing: the amounts of every open invoice (`amount_sums`, off the open-invoices index), and, for
 * the invoices in another currency than the base only (rate ≠ 1; their own partial index, migration
 * 20261226000050), what converting them adds (`fx_sums`: base amount − amount, per invoice). An
 * invoice at rate 1 has its amount as base amount, so the base sums are the amount sums plus that
 * difference, exactly as if each invoice were converted; a tenant that sells in its base currency
 * sums five buckets per invoice instead of ten, and converts none. (A tenant whose open items are
 * mostly in other currencies reads those twice.)
 */
export function openItemSumsCte(): string {
  const combined = AMOUNT_COLUMNS.map((a) => `coalesce(o.${a}, 0) + coalesce(c.${a}, 0) as ${a}`).join(', ')
  const converted = BUCKET_RANGES.map((_, k) => `s.a${k} + coalesce(f.d${k}, 0) as b${k}`).join(', ')
  return `${touchedCtes(false)}, amount_sums as (
       select customer_id, count(*) as n, ${bucketed('outstanding', 'a')}
         from invoices where ${OPEN_NOW}
        group by customer_id
     ), fx_sums as (
       select customer_id, ${bucketed(`${base('outstanding', 'exchange_rate')} - outstanding`, 'd')}
         from invoices where ${OPEN_NOW} and exchange_rate <> 1
        group by customer_id
     ), open_sums as (
       select s.customer_id, s.n, ${BUCKET_RANGES.map((_, k) => `s.a${k}`).join(', ')}, ${converted}
         from amount_sums s left join fx_sums f on f.customer_id = s.customer_id
     ), correction_sums as (
       select customer_id, sum(n)::bigint as n, ${bucketSums('amount', 'base_amount')}
         from (select customer_id, due_date, amount, ${base('amount', 'exchange_rate')} as base_amount, 1 as n from touched_items
               union all
               select customer_id, due_date, -outstanding, -(${base('outstanding', 'exchange_rate')}), -1 from invoices
                where ${OPEN_NOW} and id in (select invoice_id from touched)) items
        group by customer_id
     ), open_item_sums as (
       select coalesce(o.customer_id, c.customer_id) as customer_id, ${combined}
         from open_sums o full join correction_sums c on c.customer_id = o.customer_id
        where coalesce(o.n, 0) + coalesce(c.n, 0) > 0
     )`
}

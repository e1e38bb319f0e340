/**
 * Open items as of a date: the one set-based computation the aging report and the credit-policy
 * facts share (read model; only reads). An invoice issued on or before `as_of` owes, as of then,
 * its current outstanding with every movement dated after `as_of` undone: allocations applied after
 * it (+), allocations applied by then but un-applied after it (−), write-offs after it (+), and
 * reversals after it of the invoice or of its write-offs (their AR effect, less the allocations
 * they un-applied, which the allocation terms already count). Assumes credit applied to an invoice
 * (payments and credit notes) is recorded as allocations.
 *
 * `openItemsCte` is SQL text with the named bindings `:t` (tenant), `:d` (as-of date) and, when
 * `byCustomer`, `:ids` (customer ids); it defines the CTE `open_items(invoice_id, customer_id,
 * due_date, exchange_rate, amount, base_amount, dpd)`: `amount` in the invoice currency, `base_amount`
 * converted at the invoice's own rate (round half up, per invoice), `dpd` = days past due.
 */
export function openItemsCte(opts: { byCustomer?: boolean } = {}): string {
  const customers = opts.byCustomer ? 'and customer_id in (select unnest(:ids::text[]))' : ''
  return `inv as (
       select id, customer_id, due_date, outstanding, exchange_rate, journal_entry_id
         from invoices where tenant_id = :t and issue_date <= :d ${customers}
     ), alloc_undo as (
       select a.invoice_id,
              sum(case when a.effective_date > :d then a.amount else 0 end
                - case when a.status = 'reversed' and coalesce(re.entry_date, a.reversed_at::date) > :d then a.amount else 0 end) as amount
         from allocations a
         left join journal_entries re on re.tenant_id = a.tenant_id and re.id = a.reversal_entry_id
        where a.tenant_id = :t and (a.effective_date > :d or a.status = 'reversed') ${opts.byCustomer ? 'and a.customer_id in (select unnest(:ids::text[]))' : ''}
        group by a.invoice_id
     ), wo_undo as (
       select invoice_id, sum(amount) as amount from write_offs
        where tenant_id = :t and write_off_date > :d ${customers} group by invoice_id
     ), rev as (
       select distinct src.invoice_id, r.id as entry_id
         from (select id as invoice_id, journal_entry_id from inv
               union all
               select invoice_id, journal_entry_id from write_offs where tenant_id = :t ${customers}) src
         join journal_entries r on r.tenant_id = :t and r.reverses_entry_id = src.journal_entry_id
        where r.entry_date > :d
     ), rev_undo as (
       select rev.invoice_id,
              sum((select coalesce(sum(l.tx_debit - l.tx_credit), 0) from journal_lines l
                    where l.tenant_id = :t and l.entry_id = rev.entry_id and l.role = 'ar')
                - (select coalesce(sum(a.amount), 0) from allocations a
                    where a.tenant_id = :t and a.reversal_entry_id = rev.entry_id)) as amount
         from rev group by rev.invoice_id
     ), open_items as (
       select o.*, round(o.amount * o.exchange_rate)::bigint as base_amount, (:d::date - o.due_date) as dpd from (
         select inv.id as invoice_id, inv.customer_id, inv.due_date, inv.exchange_rate,
                (inv.outstanding + coalesce(au.amount, 0) + coalesce(wu.amount, 0) - coalesce(ru.amount, 0))::bigint as amount
           from inv
           left join alloc_undo au on au.invoice_id = inv.id
           left join wo_undo wu on wu.invoice_id = inv.id
           left join rev_undo ru on ru.invoice_id = inv.id
       ) o where o.amount <> 0
     )`
}

/** The SQL aging bucket of `dpd` (the same bounds as agingBucket in ./aging.ts). */
export const BUCKET_SQL = `case when dpd <= 0 then 'current' when dpd <= 30 then '1_30' when dpd <= 60 then '31_60' when dpd <= 90 then '61_90' else '90_plus' end`

import type { Knex } from 'knex'

/**
 * Business rules the database enforces (a closed period, an unbalanced entry, lines added to
 * another transaction's entry) raise SQLSTATE RB001 with the rule's catalogue code as the error's
 * constraint name, so the service maps them by SQLSTATE and name, never by parsing message text.
 * The functions are otherwise unchanged (migrations 090 and 091). The service side: DB_RULE_SQLSTATE in
 * core/kernel/errors.ts.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function journal_lines_new_entry() returns trigger language plpgsql as $$
    declare
      bad text;
    begin
      select l.entry_id into bad
        from (select distinct tenant_id, entry_id from new_lines) l
        left join lateral (
          select e.xmin as created_by_xact from journal_entries e
           where e.tenant_id = l.tenant_id and e.id = l.entry_id limit 1) e on true
       where e.created_by_xact is null or e.created_by_xact::text <> (pg_current_xact_id()::xid)::text
       limit 1;
      if found then
        raise exception 'posting_rejected: lines can only be added to an entry in the transaction that creates it (entry %)', bad
          using errcode = 'RB001', constraint = 'posting_rejected';
      end if;
      return null;
    end $$`)
  await knex.raw(`
    create or replace function journal_entries_open_period() returns trigger language plpgsql as $$
    declare
      p record;
    begin
      for p in
        select ap.id, ap.status, d.entry_date
          from (select distinct tenant_id, entry_date from new_entries) d
          join lateral (
            select per.id, per.status from accounting_periods per
             where per.tenant_id = d.tenant_id and d.entry_date between per.start_date and per.end_date
             limit 1 for share) ap on true
         order by d.entry_date
      loop
        if p.status <> 'open' then
          raise exception 'period_closed: % falls in % period %', p.entry_date, p.status, p.id using errcode = 'RB001', constraint = 'period_closed';
        end if;
      end loop;
      return null;
    end $$`)
  await knex.raw(`
    create or replace function journal_entry_balanced() returns trigger language plpgsql as $$
    declare
      s record;
    begin
      select count(*) as n, coalesce(sum(debit), 0) as d, coalesce(sum(credit), 0) as c,
             coalesce(sum(tx_debit), 0) as td, coalesce(sum(tx_credit), 0) as tc
        into s from journal_lines where tenant_id = new.tenant_id and entry_id = new.id;
      if s.n < 2 or s.d <> s.c or s.td <> s.tc then
        raise exception 'posting_rejected: journal entry % does not balance (lines %, debit %, credit %, tx debit %, tx credit %)',
          new.id, s.n, s.d, s.c, s.td, s.tc using errcode = 'RB001', constraint = 'posting_rejected';
      end if;
      return null;
    end $$`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

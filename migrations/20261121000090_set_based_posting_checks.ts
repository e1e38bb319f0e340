import type { Knex } from 'knex'

/**
 * The journal's database checks, once per statement instead of once per row.
 *
 * A batch of postings writes its entries and lines in one statement. Row-level checks ran a query
 * per entry or per line: the period of each entry, the parent entry of each line (foreign key) and
 * the balance of each entry twice (after the statement and again at commit). What they enforce is
 * unchanged:
 * - an entry must balance: the deferred constraint trigger journal_entry_balanced still checks every
 *   entry at commit, so it also covers lines added by a later statement of the same transaction;
 * - lines may only be added to an entry created by the same transaction: one query per statement
 *   over the statement's distinct entries. It also proves the entry exists, which is what the foreign
 *   key journal_lines → journal_entries checked per line; entries can never be updated, deleted or
 *   truncated (append-only triggers), so the key had nothing else to guard;
 * - no entry dated in a closed or locked period: one query per statement over its distinct dates,
 *   with FOR SHARE on the periods, so a close still waits for a posting in flight.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`drop trigger journal_lines_balanced on journal_lines`)
  await knex.raw(`drop function journal_lines_balanced()`)
  await knex.raw(`alter table journal_lines drop constraint journal_lines_tenant_id_entry_id_fkey`)
  await knex.raw(`
    create function journal_lines_new_entry() returns trigger language plpgsql as $$
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
          using errcode = 'P0001';
      end if;
      return null;
    end $$`)
  await knex.raw(`
    create trigger journal_lines_new_entry after insert on journal_lines
      referencing new table as new_lines for each statement execute function journal_lines_new_entry()`)

  await knex.raw(`drop trigger journal_entry_open_period on journal_entries`)
  await knex.raw(`drop function journal_entry_open_period()`)
  await knex.raw(`
    create function journal_entries_open_period() returns trigger language plpgsql as $$
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
          raise exception 'period_closed: % falls in % period %', p.entry_date, p.status, p.id using errcode = 'P0001';
        end if;
      end loop;
      return null;
    end $$`)
  await knex.raw(`
    create trigger journal_entries_open_period after insert on journal_entries
      referencing new table as new_entries for each statement execute function journal_entries_open_period()`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

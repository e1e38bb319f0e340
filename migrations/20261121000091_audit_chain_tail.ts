import type { Knex } from 'knex'

/**
 * Cheaper per-row work for the two row triggers every posting fires; what they enforce is unchanged.
 *
 * Audit chain: a transaction writes all its audit rows in one lane, and after its first row it holds
 * that lane's lock until commit, so no other transaction can append to the lane meanwhile. The
 * trigger therefore remembers the lane's tail (position and hash of the row it just chained) in a
 * transaction-local setting and chains the next row of the same lane from it, without taking the
 * lock again or reading the tail back. The setting is rolled back with the transaction or savepoint
 * that wrote it, like the rows. A session that forged the setting could only chain a row to the
 * wrong tail, which the chain check reports (a gap or a broken link), as before it could not write a
 * row at all without the trigger. The hash is computed inline, with the same expression as
 * audit_row_hash (which the chain check still uses): called from the trigger, that SQL function was
 * parsed and planned again for every row.
 *
 * Balanced entries: the deferred check runs its query directly instead of through a second function.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create or replace function audit_log_chain() returns trigger language plpgsql as $$
    declare
      last record;
      tail text[];
    begin
      -- The writer picks the lane (one per transaction, so it takes one lane lock); default by entity.
      if new.lane is null or new.lane not between 0 and 63 then
        new.lane := abs(hashtext(coalesce(new.entity_id, new.id))) % 64;
      end if;
      -- tenant | lane | lane_seq | hash of the row this transaction chained last.
      tail := string_to_array(current_setting('audit.tail', true), '|');
      if tail[1] = new.tenant_id::text and tail[2] = new.lane::text then
        new.lane_seq := tail[3]::bigint + 1;
        new.prev_hash := tail[4];
      else
        perform pg_advisory_xact_lock(hashtextextended('audit_log:' || new.tenant_id::text || ':' || new.lane, 0));
        select lane_seq, hash into last from audit_log
          where tenant_id = new.tenant_id and lane = new.lane order by lane_seq desc limit 1;
        new.lane_seq := coalesce(last.lane_seq, 0) + 1;
        new.prev_hash := coalesce(last.hash, '');
      end if;
      new.seq := nextval('audit_log_seq');
      new.created_at := clock_timestamp();
      new.hash := encode(sha256(convert_to(new.prev_hash || '|' || jsonb_build_array(
        new.tenant_id, new.seq, new.lane, new.lane_seq, new.id, new.actor, new.action, new.entity_type, new.entity_id, new.before,
        new.after, new.reason, new.ip, new.user_agent, new.request_id,
        to_char(new.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
      )::text, 'UTF8')), 'hex');
      perform set_config('audit.tail', new.tenant_id::text || '|' || new.lane || '|' || new.lane_seq || '|' || new.hash, true);
      return new;
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
          new.id, s.n, s.d, s.c, s.td, s.tc using errcode = 'P0001';
      end if;
      return null;
    end $$`)
  await knex.raw(`drop function journal_entry_check(uuid, text)`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

import type { Knex } from 'knex'
import { appendOnly, tenantRls } from '../core/kernel/db/migration-helpers'

/**
 * The double-entry ledger: chart of accounts, journal (append-only, balanced at commit, never in a
 * closed period), customer sub-ledger (append-only), open items and the documents that post.
 */
export async function up(knex: Knex): Promise<void> {
  const t = async (name: string, ddl: string, opts: { appendOnly?: boolean } = {}) => {
    await knex.raw(`create table ${name} (${ddl})`)
    await tenantRls(knex, name)
    if (opts.appendOnly) await appendOnly(knex, name)
  }

  await t('tenant_plugins', `
    tenant_id uuid not null references tenants (tenant_id),
    name text not null,
    kind text not null,
    enabled boolean not null default true,
    config jsonb not null default '{}'::jsonb,
    updated_at timestamptz not null default now(),
    primary key (tenant_id, name)`)
  await knex.raw(`create unique index tenant_plugins_one_coa on tenant_plugins (tenant_id) where kind = 'chart-of-accounts' and enabled`)

  await t('accounts', `
    tenant_id uuid not null references tenants (tenant_id),
    code text not null,
    name text not null,
    type text not null check (type in ('asset', 'liability', 'equity', 'revenue', 'contra_revenue', 'expense')),
    plugin text not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, code)`)

  await t('accounting_periods', `
    tenant_id uuid not null references tenants (tenant_id),
    id text not null,
    type text not null check (type in ('monthly', 'quarterly', 'yearly')),
    start_date date not null,
    end_date date not null,
    status text not null default 'open' check (status in ('open', 'closed', 'locked')),
    closed_at timestamptz,
    closed_by text,
    locked_at timestamptz,
    locked_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    check (end_date >= start_date),
    exclude using gist (tenant_id with =, daterange(start_date, end_date, '[]') with &&)`)

  // No foreign key from the journal to tenants or accounts: every posting would take a KEY SHARE
  // lock on the same tenant row and account rows, and concurrent postings would queue on growing
  // multixacts. RLS scopes the tenant; the posting engine refuses codes outside the tenant's chart.
  await t('journal_entries', `
    tenant_id uuid not null,
    id text not null,
    entry_date date not null,
    event text not null,
    source_type text not null,
    source_id text not null,
    currency text not null,
    exchange_rate numeric not null default 1 check (exchange_rate > 0),
    memo text,
    reverses_entry_id text,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id)`, { appendOnly: true })
  // On tables that foreign keys point at, only the primary key starts with tenant_id: the RI check
  // (`tenant_id = $1 and id = $2`) is planned once per connection, and without statistics (a fresh
  // database, before the first ANALYZE) the planner would take any index starting with tenant_id
  // and filter the whole tenant's rows on every posting.
  await knex.raw(`create index journal_entries_source_idx on journal_entries (source_id, tenant_id)`)

  await t('journal_lines', `
    tenant_id uuid not null,
    entry_id text not null,
    line_no smallint not null,
    entry_date date not null,
    account_code text not null,
    role text not null,
    customer_id text,
    currency text not null,
    debit bigint not null default 0 check (debit >= 0),
    credit bigint not null default 0 check (credit >= 0),
    tx_debit bigint not null default 0 check (tx_debit >= 0),
    tx_credit bigint not null default 0 check (tx_credit >= 0),
    primary key (tenant_id, entry_id, line_no),
    foreign key (tenant_id, entry_id) references journal_entries (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id)`, { appendOnly: true })
  await knex.raw(`create index journal_lines_customer_idx on journal_lines (tenant_id, customer_id, account_code) where customer_id is not null`)
  await knex.raw(`create index journal_lines_account_idx on journal_lines (tenant_id, account_code, entry_date)`)

  // Every entry balances in base and in transaction currency, checked at commit for each new entry
  // and for each new line (so lines can neither be left out nor added to an entry of an earlier
  // transaction). The checks run inside the server: no round trip per posting.
  await knex.raw(`
    create function journal_entry_check(p_tenant uuid, p_entry text) returns void language plpgsql as $$
    declare
      s record;
    begin
      select count(*) as n, coalesce(sum(debit), 0) as d, coalesce(sum(credit), 0) as c,
             coalesce(sum(tx_debit), 0) as td, coalesce(sum(tx_credit), 0) as tc
        into s from journal_lines where tenant_id = p_tenant and entry_id = p_entry;
      if s.n < 2 or s.d <> s.c or s.td <> s.tc then
        raise exception 'posting_rejected: journal entry % does not balance (lines %, debit %, credit %, tx debit %, tx credit %)',
          p_entry, s.n, s.d, s.c, s.td, s.tc using errcode = 'P0001';
      end if;
    end $$`)
  await knex.raw(`
    create function journal_entry_balanced() returns trigger language plpgsql as $$
    begin
      perform journal_entry_check(new.tenant_id, new.id);
      return null;
    end $$`)
  await knex.raw(`
    create constraint trigger journal_entry_balanced after insert on journal_entries
      deferrable initially deferred for each row execute function journal_entry_balanced()`)
  // Lines: the posting engine writes an entry and all its lines in one statement, so a
  // statement-level check sees whole entries: each touched entry must come from this transaction
  // and balance: one primary-key lookup and one balance check per touched entry, not per line.
  await knex.raw(`
    create function journal_lines_balanced() returns trigger language plpgsql as $$
    declare
      r record;
    begin
      for r in select distinct tenant_id, entry_id from new_lines loop
        perform 1 from journal_entries e
          where e.tenant_id = r.tenant_id and e.id = r.entry_id
            and e.xmin::text = (pg_current_xact_id()::xid)::text;
        if not found then
          raise exception 'posting_rejected: lines can only be added to an entry in the transaction that creates it'
            using errcode = 'P0001';
        end if;
        perform journal_entry_check(r.tenant_id, r.entry_id);
      end loop;
      return null;
    end $$`)
  await knex.raw(`
    create trigger journal_lines_balanced after insert on journal_lines
      referencing new table as new_lines for each statement execute function journal_lines_balanced()`)

  // No entry dated inside a closed or locked period. FOR SHARE makes a concurrent close wait for
  // this transaction, so a period can never close under an uncommitted posting.
  await knex.raw(`
    create function journal_entry_open_period() returns trigger language plpgsql as $$
    declare
      p record;
    begin
      select id, status into p from accounting_periods
        where tenant_id = new.tenant_id and new.entry_date between start_date and end_date for share;
      if found and p.status <> 'open' then
        raise exception 'period_closed: % falls in % period %', new.entry_date, p.status, p.id using errcode = 'P0001';
      end if;
      return new;
    end $$`)
  await knex.raw(`create trigger journal_entry_open_period before insert on journal_entries for each row execute function journal_entry_open_period()`)

  await t('document_sequences', `
    tenant_id uuid not null references tenants (tenant_id),
    kind text not null,
    next_value bigint not null default 1,
    primary key (tenant_id, kind)`)

  await t('invoices', `
    tenant_id uuid not null,
    id text not null,
    number text not null,
    kind text not null default 'invoice' check (kind in ('invoice', 'debit_note')),
    customer_id text not null,
    currency text not null,
    exchange_rate numeric not null default 1,
    issue_date date not null,
    due_date date not null,
    subtotal bigint not null check (subtotal >= 0),
    tax bigint not null check (tax >= 0),
    total bigint not null check (total >= 0),
    total_base bigint not null check (total_base >= 0),
    outstanding bigint not null check (outstanding >= 0 and outstanding <= total),
    status text not null check (status in ('open', 'partially_paid', 'paid', 'void')),
    memo text,
    sale_id text,
    journal_entry_id text not null,
    voided_at timestamptz,
    void_reason text,
    credit_override_reason text,
    created_by text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (tenant_id, id),
    unique (number, tenant_id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, journal_entry_id) references journal_entries (tenant_id, id)`)
  await knex.raw(`create index invoices_customer_idx on invoices (customer_id, tenant_id, id)`)
  await knex.raw(`create index invoices_open_idx on invoices (tenant_id, customer_id, due_date, issue_date, id) where outstanding > 0`)

  await t('invoice_lines', `
    tenant_id uuid not null,
    invoice_id text not null,
    line_no smallint not null,
    description text not null,
    product_ref text,
    quantity bigint not null check (quantity > 0),
    unit_amount bigint not null check (unit_amount >= 0),
    tax_rate numeric not null default 0 check (tax_rate >= 0),
    unit_cost bigint check (unit_cost >= 0),
    net_amount bigint not null,
    tax_amount bigint not null,
    returned_quantity bigint not null default 0 check (returned_quantity >= 0 and returned_quantity <= quantity),
    primary key (tenant_id, invoice_id, line_no),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)`)

  await t('payments', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    amount bigint not null check (amount > 0),
    currency text not null,
    exchange_rate numeric not null default 1,
    received_date date not null,
    method text not null,
    reference text,
    unapplied_amount bigint not null check (unapplied_amount >= 0 and unapplied_amount <= amount),
    status text not null default 'succeeded' check (status in ('succeeded', 'voided')),
    sale_id text,
    journal_entry_id text not null,
    voided_at timestamptz,
    void_reason text,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, journal_entry_id) references journal_entries (tenant_id, id)`)
  await knex.raw(`create index payments_customer_idx on payments (tenant_id, customer_id, id)`)

  await t('credit_notes', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    invoice_id text,
    currency text not null,
    exchange_rate numeric not null default 1,
    subtotal bigint not null check (subtotal >= 0),
    tax bigint not null check (tax >= 0),
    amount bigint not null check (amount > 0),
    unapplied_amount bigint not null check (unapplied_amount >= 0 and unapplied_amount <= amount),
    reason text not null,
    status text not null default 'issued' check (status in ('issued', 'voided')),
    issue_date date not null,
    journal_entry_id text not null,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id),
    foreign key (tenant_id, journal_entry_id) references journal_entries (tenant_id, id)`)

  await t('credit_note_lines', `
    tenant_id uuid not null,
    credit_note_id text not null,
    line_no smallint not null,
    invoice_id text not null,
    invoice_line_no smallint not null,
    quantity bigint not null check (quantity > 0),
    net_amount bigint not null,
    tax_amount bigint not null,
    cost_amount bigint not null default 0,
    primary key (tenant_id, credit_note_id, line_no),
    foreign key (tenant_id, credit_note_id) references credit_notes (tenant_id, id),
    foreign key (tenant_id, invoice_id, invoice_line_no) references invoice_lines (tenant_id, invoice_id, line_no)`)

  await t('allocations', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    source_type text not null check (source_type in ('payment', 'credit_note')),
    source_id text not null,
    invoice_id text not null,
    amount bigint not null check (amount > 0),
    base_amount bigint not null,
    effective_date date not null,
    status text not null default 'applied' check (status in ('applied', 'reversed')),
    journal_entry_id text,
    reversal_entry_id text,
    reversed_at timestamptz,
    reverse_reason text,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)`)
  await knex.raw(`create index allocations_invoice_idx on allocations (tenant_id, invoice_id)`)
  await knex.raw(`create index allocations_source_idx on allocations (tenant_id, source_id)`)

  await t('refunds', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    amount bigint not null check (amount > 0),
    currency text not null,
    exchange_rate numeric not null default 1,
    source_type text check (source_type in ('payment', 'credit_note')),
    source_id text,
    method text not null,
    reason text not null,
    refund_date date not null,
    journal_entry_id text not null,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id)`)

  await t('write_offs', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    invoice_id text not null,
    payment_id text,
    amount bigint not null check (amount > 0),
    base_amount bigint not null,
    reason text not null,
    write_off_date date not null,
    journal_entry_id text not null,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)`)
  await knex.raw(`create index write_offs_invoice_idx on write_offs (tenant_id, invoice_id)`)

  await t('adjustments', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    amount bigint not null check (amount <> 0),
    currency text not null,
    reason text not null,
    invoice_id text,
    credit_note_id text,
    adjustment_date date not null,
    journal_entry_id text not null,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id)`)

  await t('sales', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    invoice_id text not null,
    payment_id text,
    status text not null default 'completed' check (status in ('completed', 'cancelled')),
    cancelled_at timestamptz,
    cancel_reason text,
    created_by text,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, invoice_id) references invoices (tenant_id, id)`)

  // Customer sub-ledger: append-only. `amount` is the signed effect on the current balance.
  await t('customer_transactions', `
    tenant_id uuid not null,
    id text not null,
    customer_id text not null,
    type text not null check (type in ('invoice', 'payment', 'refund', 'credit_note', 'debit_note', 'adjustment',
      'write_off', 'reversal', 'fx_difference', 'chargeback', 'chargeback_reversal')),
    amount bigint not null,
    currency text not null,
    balance_before bigint not null,
    balance_after bigint not null check (balance_after = balance_before + amount),
    reference text not null,
    source_type text not null,
    source_id text not null,
    posting_date date not null,
    reverses_id text,
    actor text,
    reason text,
    journal_entry_id text not null,
    created_at timestamptz not null default now(),
    primary key (tenant_id, id),
    foreign key (tenant_id, customer_id) references customers (tenant_id, id),
    foreign key (tenant_id, journal_entry_id) references journal_entries (tenant_id, id)`, { appendOnly: true })
  await knex.raw(`create index customer_transactions_customer_idx on customer_transactions (tenant_id, customer_id, id)`)
  await knex.raw(`create index customer_transactions_source_idx on customer_transactions (tenant_id, source_id)`)
  await knex.raw(`create index customer_transactions_reverses_idx on customer_transactions (tenant_id, reverses_id) where reverses_id is not null`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

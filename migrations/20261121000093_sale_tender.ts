import type { Knex } from 'knex'

/**
 * What the customer handed over at the till for a sale, next to the payment that was posted: the
 * amount tendered, the cash given back as change (never posted) and whether the customer asked to
 * keep an overpayment as store credit. `tendered_amount` is null on sales without a payment and on
 * sales written before this migration (their tender was the payment's amount, with no change).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table sales
    add column tendered_amount bigint check (tendered_amount > 0),
    add column change_given bigint not null default 0 check (change_given >= 0),
    add column keep_as_credit boolean not null default false`)
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`alter table sales drop column tendered_amount, drop column change_given, drop column keep_as_credit`)
}

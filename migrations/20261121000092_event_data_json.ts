import type { Knex } from 'knex'

/**
 * Event payloads are stored as `json`, the text the service wrote, instead of `jsonb`. Nothing
 * queries inside them; they are written once with the posting and read back whole by the events API
 * and the webhook sender. Building jsonb cost Postgres a second parse of every payload on the
 * posting's path, and reordered the object's keys, so a webhook now carries them in API order.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table events alter column data type json using data::json`)
}

export async function down(): Promise<void> {
  throw new Error('irreversible: restore from backup instead')
}

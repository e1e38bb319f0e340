import type { Db } from './knex'

/**
 * The identity of the database a process works on, carried by every queued job so that a worker
 * of another database sharing the same Redis (and queue prefix) refuses the job instead of running
 * it against the wrong data: `<database_identity.id>/<current_database()>`. The id is a random
 * uuid made once by the migrations; the name tells apart databases cloned from one template (or
 * restored under another name), which copy the id. A dump restored under the same name, a
 * failover or a major upgrade keep the identity, so queued jobs stay with their data.
 */
export async function databaseIdentity(db: Db): Promise<string> {
  let p = cache.get(db)
  if (!p) {
    p = db
      .raw(`select id::text || '/' || current_database() as identity from database_identity`)
      .then((r: { rows: { identity: string }[] }) => {
        if (r.rows.length !== 1) throw new Error('database_identity must hold exactly one row (run the migrations)')
        return r.rows[0].identity
      })
    p.catch(() => cache.delete(db)) // a failed read is tried again next time
    cache.set(db, p)
  }
  return p
}

const cache = new WeakMap<Db, Promise<string>>()

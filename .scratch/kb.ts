import { createDb, prepared } from '/work/main/core/db/knex'
import { withTenant } from '/work/main/core/db/tenant'
import pg from '/work/main/node_modules/pg'
const url = 'postgres://postgres@127.0.0.1:5432/test'
async function main() {
  const db = createDb(url, { poolMax: 2 })
  const tenant = '00000000-0000-0000-0000-000000000001'
  const N = 3000
  for (let round = 0; round < 2; round++) {
    let c0 = process.cpuUsage(); let t0 = Date.now()
    for (let i = 0; i < N; i++) await withTenant(db, tenant, async (trx) => { await prepared(trx, 'select ?::int as x', [i]); await trx.raw('select 1 as y where ? = ?', [1, 1]) })
    let c = process.cpuUsage(c0); console.log('knex withTenant + 2 queries: cpu µs/trx', ((c.user + c.system) / N).toFixed(0), 'wall', ((Date.now() - t0) * 1000 / N).toFixed(0))
    const client = new pg.Client(url); await client.connect()
    c0 = process.cpuUsage(); t0 = Date.now()
    for (let i = 0; i < N; i++) { await client.query('begin'); await client.query({ name: 's1', text: "select set_config('app.tenant_id', $1, true)", values: [tenant] }); await client.query({ name: 's2', text: 'select $1::int as x', values: [i] }); await client.query('select 1 as y where $1::int = $2::int', [1, 1]); await client.query('commit') }
    c = process.cpuUsage(c0); console.log('raw pg same: cpu µs/trx', ((c.user + c.system) / N).toFixed(0), 'wall', ((Date.now() - t0) * 1000 / N).toFixed(0))
    await client.end()
  }
  await db.destroy()
}
main()

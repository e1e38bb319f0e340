import pg from 'pg'
import { openItemsCte, BUCKET_SQL } from '../core/reports/open-items'
async function main() {
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${process.argv[2]}` })
  await c.connect()
  const t = (await c.query(`select tenant_id from tenants order by created_at desc limit 1`)).rows[0].tenant_id
  let sql = `explain analyze with ${openItemsCte()} select customer_id, ${BUCKET_SQL} as bucket, sum(amount)::bigint, sum(base_amount)::bigint from open_items group by 1, 2`
  sql = sql.replace(/(?<!:):t\b/g, `'${t}'`).replace(/(?<!:):d\b/g, `'2026-10-31'`)
  await c.query('begin'); await c.query(`set local role recv_app`); await c.query(`select set_config('app.tenant_id', '${t}', true)`)
  const r = await c.query(sql)
  console.log(r.rows.map((x: any) => x['QUERY PLAN']).join('\n'))
  await c.end()
}
main()

import t from 'tap'
import { setupTestEnv } from '/work/main/test/helpers/app'
t.test('dbg', async (t) => {
  const env = await setupTestEnv(t, { LOG_LEVEL: 'error' } as any)
  env.app.log.level = 'error'
  const tenant = await env.tenant()
  const accountant = await env.key(tenant.key, 'accountant')
  const created = await env.api(accountant.secret).post('/v1/customers', { name: 'Audited', email: 'a@example.com' })
  console.log(created.statusCode, created.raw)
})

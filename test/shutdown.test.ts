import t from 'tap'
import { randomBytes } from 'node:crypto'
import { setupTestEnv, PLATFORM_TOKEN } from './helpers/app'
import { freePort, sleep, spawnNode, waitReady } from './helpers/processes'

/**
 * Ctrl-C in a terminal: the service (`core/main.ts api`) gets SIGINT from the terminal and again
 * from its npm/tsx parent a moment later. It shuts down gracefully and exits 0; a signal well after
 * the first (someone pressing Ctrl-C again because shutdown hangs) forces exit 1.
 */
t.test('graceful shutdown on Ctrl-C', async (t) => {
  const env = await setupTestEnv(t)
  const serviceEnv = async () => ({
    DATABASE_URL: env.config.DATABASE_URL,
    APP_DATABASE_URL: '',
    LISTEN_DATABASE_URL: '',
    DB_APP_PASSWORD: env.config.DB_APP_PASSWORD,
    PLATFORM_ADMIN_TOKEN: PLATFORM_TOKEN,
    LOG_LEVEL: 'info',
    QUEUE_PREFIX: `{shutdown_${randomBytes(4).toString('hex')}}`,
    SKIP_ENSURE_SERVICES: '1',
    REDIS_URL: env.config.REDIS_URL,
    NODE_ENV: 'test',
    PORT: String(await freePort()),
  })

  await t.test('SIGINT twice in a row (terminal and parent): graceful, exit 0', async (t) => {
    const e = await serviceEnv()
    const proc = spawnNode(t, 'core/main.ts', ['api'], e)
    await waitReady(`http://127.0.0.1:${e.PORT}`, proc)
    proc.child.kill('SIGINT')
    await sleep(20)
    proc.child.kill('SIGINT')
    await proc.exited
    t.equal(proc.child.exitCode, 0, proc.output().slice(-2000))
    t.match(proc.output(), /shutting down/)
    t.notMatch(proc.output(), /second/)
  })

  await t.test('SIGTERM once: exit 0', async (t) => {
    const e = await serviceEnv()
    const proc = spawnNode(t, 'core/main.ts', ['api'], e)
    await waitReady(`http://127.0.0.1:${e.PORT}`, proc)
    proc.child.kill('SIGTERM')
    await proc.exited
    t.equal(proc.child.exitCode, 0, proc.output().slice(-2000))
  })
})

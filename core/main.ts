import closeWithGrace from 'close-with-grace'
import Redis from 'ioredis'
import pino from 'pino'
import { appDatabaseUrl, loadConfig } from './kernel/config'
import { createDb } from './kernel/db/knex'
import { migrate } from './kernel/db/migrate'
import { buildApp, REDACT } from './http/app'
import { createPluginRuntime, pluginRuntimeOptions } from './kernel/plugins/runtime'
import { workerRegistry } from './jobs/registry'
import { startWorker } from './jobs/worker'

/** Entry point: `start` (migrate, then API and worker in one process), `api`, `worker` or `migrate`. */
async function main(mode: string): Promise<void> {
  const config = loadConfig()
  const log = pino({ level: config.LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' } })
  if (mode === 'start' || mode === 'migrate') {
    await migrate(config.DATABASE_URL, config.DB_APP_PASSWORD, (m) => log.info(m))
    if (mode === 'migrate') return
  }
  const db = createDb(appDatabaseUrl(config), { poolMax: config.DB_POOL_MAX, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  // Discovered plugins and the containment pool their code (and JSON-logic rules) run in: one per
  // process, shared by the API and the worker, closed last.
  const plugins = await createPluginRuntime(pluginRuntimeOptions(config, (m) => log.warn(m)))
  const closers: (() => Promise<unknown>)[] = []

  if (mode === 'start' || mode === 'worker') {
    // What the worker runs: the one explicit list (jobs, event consumers, sweeps, schedules).
    const worker = await startWorker({ config, db, log, registry: workerRegistry(config), plugins })
    closers.push(() => worker.close())
  }
  if (mode === 'start' || mode === 'api') {
    const app = await buildApp({ config, db, redis, plugins })
    await app.listen({ host: config.HOST, port: config.PORT })
    closers.unshift(() => app.close()) // stop taking requests first
  }
  closers.push(() => db.destroy(), () => redis.quit(), () => plugins.close())

  closeWithGrace({ delay: 15000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    else log.info({ signal }, 'shutting down')
    for (const close of closers) await close()
  })
}

const mode = process.argv[2] ?? 'start'
if (!['start', 'api', 'worker', 'migrate'].includes(mode)) {
  console.error(`usage: main.ts start|api|worker|migrate`)
  process.exit(2)
}
main(mode).catch((err) => {
  console.error(err)
  process.exit(1)
})

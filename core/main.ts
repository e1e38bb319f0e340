import v8 from 'node:v8'
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

// The old generation grows to 1.5 × what survived its last collection, not up to 4× as V8 allows
// itself under a high allocation rate: under steady load the heap stays near its live size (RSS
// ≤ 250 MB, ARCHITECTURE §12) for a few more collections, and a large report still gets the heap it
// needs (no hard cap to run out of). V8 reads the factor at each collection, so setting it here works.
v8.setFlagsFromString('--heap-growing-percent=50')

/** Entry point: `start` (migrate, then API and worker in one process), `api`, `worker` or `migrate`. */
async function main(mode: string): Promise<void> {
  const config = loadConfig()
  const log = pino({ level: config.LOG_LEVEL, redact: { paths: REDACT, censor: '[redacted]' } })
  if (mode === 'start' || mode === 'migrate') {
    await migrate(config.DATABASE_URL, config.DB_APP_PASSWORD, (m) => log.info(m))
    if (mode === 'migrate') return
  }
  const db = createDb(appDatabaseUrl(config), { poolMax: config.DB_POOL_MAX, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableAutoPipelining: true }) // the rate limiter's calls of one tick go in one write
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

  // Signals are ours (close-with-grace keeps errors and the 15 s limit): Ctrl-C in a terminal reaches
  // this process twice, once from the terminal (it signals the whole foreground process group) and
  // once relayed by the npm/tsx parent, so the same signal again within ECHO_MS of the first is that
  // echo, not a second request: the graceful shutdown goes on and exits 0. A later one forces exit 1.
  const grace = closeWithGrace({ delay: 15000, skip: ['SIGINT', 'SIGTERM'] }, async ({ err }) => {
    if (err) log.error({ err }, 'shutting down after an error')
    for (const close of closers) await close()
  })
  let first: { signal: NodeJS.Signals; at: number } | null = null
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (!first) {
        first = { signal, at: Date.now() }
        log.info({ signal }, 'shutting down')
        void grace.close()
      } else if (signal !== first.signal || Date.now() - first.at > ECHO_MS) {
        log.error({ signal }, 'second signal during shutdown, exiting now')
        process.exit(1)
      }
    })
  }
}

/** How long a repeat of the first shutdown signal counts as its echo (see above). */
const ECHO_MS = 2000

const mode = process.argv[2] ?? 'start'
if (!['start', 'api', 'worker', 'migrate'].includes(mode)) {
  console.error(`usage: main.ts start|api|worker|migrate`)
  process.exit(2)
}
main(mode).catch((err) => {
  console.error(err)
  process.exit(1)
})

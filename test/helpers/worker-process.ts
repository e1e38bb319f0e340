import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { appDatabaseUrl, loadConfig } from '../../core/kernel/config'
import { createDb } from '../../core/kernel/db/knex'
import { workerRegistry } from '../../core/jobs/registry'
import { startWorker, type WorkerOptions } from '../../core/jobs/worker'
import type { DeliverySettings } from '../../core/webhooks/delivery'

/**
 * The worker as a process of its own, for test/faults.test.ts: what `core/main.ts worker` does,
 * with the timings a test can wait for, passed through the worker's and the registry's existing
 * options (the service has no test switch). The production defaults (republish after 30 s, sweep
 * after 2 min, 30 s locks) are correct and too slow to wait for in a test.
 *
 * FAULTS_WORKER_OPTIONS (JSON): { worker?: WorkerOptions, webhooks?: Partial<DeliverySettings> }.
 */
async function main(): Promise<void> {
  const config = loadConfig()
  const log = pino({ level: config.LOG_LEVEL })
  const { worker: options = {}, webhooks = {} } = JSON.parse(process.env.FAULTS_WORKER_OPTIONS ?? '{}') as { worker?: WorkerOptions; webhooks?: Partial<DeliverySettings> }
  const db = createDb(appDatabaseUrl(config), { poolMax: config.DB_POOL_MAX, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const worker = await startWorker({ config, db, log, registry: workerRegistry(config, { webhooks }), options })
  closeWithGrace({ delay: 15000 }, async () => {
    await worker.close()
    await db.destroy()
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})

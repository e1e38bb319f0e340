import Queue from 'bull'
import type { Logger } from 'pino'
import type { Config } from '../config'
import type { Db } from '../db/knex'

export interface Worker {
  queues: Queue.Queue[]
  close(): Promise<void>
}

export const HEARTBEAT_EVERY_MS = 30000

/**
 * Starts the job processors. For now: a heartbeat that proves Redis, Bull and Postgres are
 * reachable from the worker. One beat runs at start (so a broken worker shows at boot, not 30 s
 * later), then one every `HEARTBEAT_EVERY_MS` per deployment: the repeatable job is keyed, so
 * replicas share it instead of multiplying it.
 */
export async function startWorker({ config, db, log }: { config: Config; db: Db; log: Logger }): Promise<Worker> {
  const heartbeat = new Queue('heartbeat', config.REDIS_URL, {
    prefix: config.QUEUE_PREFIX,
    defaultJobOptions: { removeOnComplete: 10, removeOnFail: 50 },
  })
  heartbeat.on('failed', (_job, err) => log.error({ err }, 'heartbeat failed'))
  heartbeat.on('error', (err) => log.error({ err }, 'heartbeat queue error'))
  heartbeat
    .process(async () => {
      await db.raw('select 1')
      return { at: new Date().toISOString() }
    })
    .catch(() => undefined) // resolves at close; a failure is already emitted as 'error' above
  await heartbeat.add({}, { repeat: { every: HEARTBEAT_EVERY_MS }, jobId: 'heartbeat' })
  await heartbeat.add({})
  log.info('worker started')
  return {
    queues: [heartbeat],
    async close() {
      await heartbeat.close()
    },
  }
}

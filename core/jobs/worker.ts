import Queue from 'bull'
import type { Logger } from 'pino'
import type { Config } from '../config'
import type { Db } from '../db/knex'

export interface Worker {
  queues: Queue.Queue[]
  close(): Promise<void>
}

/** Starts the job processors. For now: a heartbeat that proves Redis, Bull and Postgres are reachable. */
export async function startWorker({ config, db, log }: { config: Config; db: Db; log: Logger }): Promise<Worker> {
  const heartbeat = new Queue('heartbeat', config.REDIS_URL, { prefix: config.QUEUE_PREFIX })
  heartbeat.process(async () => {
    await db.raw('select 1')
    return { at: new Date().toISOString() }
  })
  await heartbeat.add({}, { repeat: { every: 30000 }, jobId: 'heartbeat', removeOnComplete: 10, removeOnFail: 50 })
  heartbeat.on('failed', (_job, err) => log.error({ err }, 'heartbeat failed'))
  log.info('worker started')
  return {
    queues: [heartbeat],
    async close() {
      await heartbeat.close()
    },
  }
}

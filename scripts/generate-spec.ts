import fs from 'node:fs/promises'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import Redis from 'ioredis'
import { loadConfig } from '../core/kernel/config'
import { createDb } from '../core/kernel/db/knex'
import { buildApp } from '../core/http/app'

export const SPEC_PATH = path.join(__dirname, '..', 'api-spec', 'openapi.json')

/**
 * Runs `fn` on a ready app that has no live connections: knex connects on the first query and
 * Redis is lazy, and neither is used. Defaults only, so the environment cannot change the result.
 */
export async function withOfflineApp<T>(fn: (app: FastifyInstance) => Promise<T>): Promise<T> {
  const config = loadConfig({ LOG_LEVEL: 'silent' }, {})
  const db = createDb(config.DATABASE_URL)
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true })
  try {
    const app = await buildApp({ config, db, redis }, { logger: false })
    try {
      await app.ready()
      return await fn(app)
    } finally {
      await app.close()
    }
  } finally {
    redis.disconnect()
    await db.destroy()
  }
}

/** The OpenAPI document generated from the route schemas, as checked in (2-space JSON, trailing newline). */
export function buildSpec(): Promise<string> {
  return withOfflineApp(async (app) => `${JSON.stringify(app.swagger(), null, 2)}\n`)
}

if (require.main === module) {
  buildSpec()
    .then(async (spec) => {
      await fs.mkdir(path.dirname(SPEC_PATH), { recursive: true })
      await fs.writeFile(SPEC_PATH, spec)
      console.log(`wrote ${path.relative(process.cwd(), SPEC_PATH)}`)
    })
    .catch((err) => {
      console.error(err)
      process.exit(1)
    })
}

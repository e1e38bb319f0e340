import fs from 'node:fs/promises'
import path from 'node:path'
import Redis from 'ioredis'
import { loadConfig } from '../core/config'
import { createDb } from '../core/db/knex'
import { buildApp } from '../core/http/app'

export const SPEC_PATH = path.join(__dirname, '..', 'api-spec', 'openapi.json')

/**
 * The OpenAPI document generated from the route schemas, as checked in (2-space JSON, trailing
 * newline). Needs no running Postgres or Redis: knex connects on the first query and Redis is
 * lazy, and building the spec runs neither. Defaults only, so the environment cannot change it.
 */
export async function buildSpec(): Promise<string> {
  const config = loadConfig({ LOG_LEVEL: 'silent' }, {})
  const db = createDb(config.DATABASE_URL)
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true })
  try {
    const app = await buildApp({ config, db, redis }, { logger: false })
    try {
      await app.ready()
      return `${JSON.stringify(app.swagger(), null, 2)}\n`
    } finally {
      await app.close()
    }
  } finally {
    redis.disconnect()
    await db.destroy()
  }
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

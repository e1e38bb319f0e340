import { randomBytes } from 'node:crypto'
import type { FastifyInstance, InjectOptions } from 'fastify'
import Redis from 'ioredis'
import type { Test } from 'tap'
import { appDatabaseUrl, Config, loadConfig } from '../../core/kernel/config'
import { createDb, Db } from '../../core/kernel/db/knex'
import { buildApp } from '../../core/http/app'
import { APP_PASSWORD, createTestDatabase } from './db'

export const PLATFORM_TOKEN = 'test-platform-admin-token-0123456789'

/**
 * `TEST_VIA_PGBOUNCER=1`: the app's runtime-role connections go through the PgBouncer (transaction
 * pooling) of `scripts/ensure-pgbouncer.sh` at TEST_PGBOUNCER_URL (host and port only; default
 * 127.0.0.1:6432), with unnamed statements; migrations, the admin connection and the relay's LISTEN
 * stay direct, as in a deployment behind PgBouncer.
 */
export const VIA_PGBOUNCER = process.env.TEST_VIA_PGBOUNCER === '1'
export const PGBOUNCER_URL = process.env.TEST_PGBOUNCER_URL ?? 'postgres://127.0.0.1:6432'

/** `url` with its host and port replaced by PgBouncer's. */
export function viaPgBouncer(url: string): string {
  const u = new URL(url)
  const b = new URL(PGBOUNCER_URL)
  u.hostname = b.hostname
  u.port = b.port
  return u.toString()
}

export interface TestEnv {
  app: FastifyInstance
  config: Config
  /** Runtime role: RLS applies. */
  db: Db
  /** Superuser on the same database, for inspecting and corrupting state in tests only. */
  admin: Db
  redis: Redis
  /** Provisions a tenant through the API; returns its id and admin key. */
  tenant(input?: { name?: string; base_currency?: string; timezone?: string; sandbox?: boolean }): Promise<{ id: string; uuid: string; key: string }>
  /** Creates an API key with `role` for a tenant (through the API). */
  key(adminKey: string, role: string): Promise<{ id: string; secret: string }>
  /** `app.inject` with `Authorization: Bearer key`. */
  api(key: string | null): ApiClient
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT'
export type ApiResponse = { statusCode: number; headers: Record<string, unknown>; body: any; raw: string }
export type ApiClient = {
  [M in Lowercase<Method>]: (url: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiResponse>
}

/**
 * One database (from the migrated template), one app and one Redis namespace per test file;
 * everything is torn down with the test.
 */
export async function setupTestEnv(t: Test, overrides: Partial<Config> = {}, opts: { viaPgBouncer?: boolean } = {}): Promise<TestEnv> {
  const database = await createTestDatabase()
  const base = { DATABASE_URL: database.url, DB_APP_PASSWORD: APP_PASSWORD }
  let pooled: Partial<Config> = {}
  if (opts.viaPgBouncer ?? VIA_PGBOUNCER) {
    const direct = appDatabaseUrl(loadConfig(base, {}))
    pooled = { APP_DATABASE_URL: viaPgBouncer(direct), DB_PREPARED_STATEMENTS: false, LISTEN_DATABASE_URL: direct }
  }
  const config = loadConfig(
    {
      ...base,
      PLATFORM_ADMIN_TOKEN: PLATFORM_TOKEN,
      LOG_LEVEL: 'silent',
      QUEUE_PREFIX: `{test_${randomBytes(4).toString('hex')}}`,
      WEBHOOK_ALLOW_PRIVATE_TARGETS: true,
      ...pooled,
      ...overrides,
    },
    {},
  )
  const db = createDb(appDatabaseUrl(config), { poolMax: config.DB_POOL_MAX, preparedStatements: config.DB_PREPARED_STATEMENTS })
  const admin = createDb(database.url, { poolMax: 2 })
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2 })
  const app = await buildApp({ config, db, redis }, { logger: false })
  await app.ready()

  t.teardown(async () => {
    await app.close()
    await redis.quit()
    await db.destroy()
    await admin.destroy()
    await database.drop()
  })

  const api = (key: string | null): ApiClient => {
    const call = (method: Method) => async (url: string, body?: unknown, headers: Record<string, string> = {}) => {
      const opts: InjectOptions = { method, url, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } }
      if (body !== undefined) opts.payload = body as InjectOptions['payload']
      const res = await app.inject(opts)
      let parsed: unknown = res.body
      try {
        parsed = JSON.parse(res.body)
      } catch {
        /* not JSON */
      }
      return { statusCode: res.statusCode, headers: res.headers as Record<string, unknown>, body: parsed as any, raw: res.body }
    }
    return { get: call('GET'), post: call('POST'), patch: call('PATCH'), delete: call('DELETE'), put: call('PUT') }
  }

  return {
    app,
    config,
    db,
    admin,
    redis,
    api,
    async tenant(input = {}) {
      const res = await api(PLATFORM_TOKEN).post('/v1/tenants', { name: 'Test Merchant', base_currency: 'usd', ...input })
      if (res.statusCode !== 201) throw new Error(`tenant creation failed: ${res.statusCode} ${res.raw}`)
      const uuid = res.body.id.replace(/^ten_/, '').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5')
      return { id: res.body.id, uuid, key: res.body.api_key }
    },
    async key(adminKey, role) {
      const res = await api(adminKey).post('/v1/api-keys', { name: `${role} key`, role })
      if (res.statusCode !== 201) throw new Error(`key creation failed: ${res.statusCode} ${res.raw}`)
      return { id: res.body.id, secret: res.body.secret }
    },
  }
}

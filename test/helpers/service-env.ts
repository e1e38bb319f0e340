import { randomBytes } from 'node:crypto'
import { appDatabaseUrl, loadConfig } from '../../core/kernel/config'
import { PLATFORM_TOKEN, VIA_PGBOUNCER, viaPgBouncer } from './app'
import { APP_PASSWORD } from './db'

/**
 * The environment of the service run as real processes (`core/main.ts api`, the test worker) on a
 * test database (test/faults.test.ts, test/console-browser.test.ts).
 */
export function serviceEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    APP_DATABASE_URL: '',
    LISTEN_DATABASE_URL: '',
    DB_PREPARED_STATEMENTS: 'true',
    DB_APP_PASSWORD: APP_PASSWORD,
    PLATFORM_ADMIN_TOKEN: PLATFORM_TOKEN,
    LOG_LEVEL: 'warn',
    QUEUE_PREFIX: `{svc_${randomBytes(4).toString('hex')}}`,
    SKIP_ENSURE_SERVICES: '1',
    RATE_LIMIT_MAX: '1000000',
    REDIS_URL: 'redis://127.0.0.1:6379',
    WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true',
    NODE_ENV: 'test',
    ...extra,
  }
  return env
}

/** On the shared Postgres, the runtime role goes through PgBouncer in the PgBouncer run of the suite (as setupTestEnv does). */
export function pooledEnv(databaseUrl: string): Record<string, string> {
  if (!VIA_PGBOUNCER) return {}
  const direct = appDatabaseUrl(loadConfig({ DATABASE_URL: databaseUrl, DB_APP_PASSWORD: APP_PASSWORD }, {}))
  return { APP_DATABASE_URL: viaPgBouncer(direct), DB_PREPARED_STATEMENTS: 'false', LISTEN_DATABASE_URL: direct }
}

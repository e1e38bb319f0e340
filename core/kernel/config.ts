import { envSchema } from 'env-schema'
import { APP_ROLE } from './db/migration-helpers'

/** Validated environment configuration, with defaults for a local Postgres and Redis. */
export interface Config {
  NODE_ENV: string
  HOST: string
  PORT: number
  DATABASE_URL: string
  /** Optional explicit URL for the runtime role; derived from DATABASE_URL when empty. */
  APP_DATABASE_URL: string
  DB_APP_PASSWORD: string
  DB_POOL_MAX: number
  /** false: `prepared()` sends unnamed statements (behind PgBouncer in transaction mode). */
  DB_PREPARED_STATEMENTS: boolean
  /** Connection the outbox relay LISTENs on: empty = the runtime role's URL, `none` = no LISTEN (sweep only). */
  LISTEN_DATABASE_URL: string
  REDIS_URL: string
  QUEUE_PREFIX: string
  PLATFORM_ADMIN_TOKEN: string
  PLUGIN_PATH: string
  /** Time budget of one plugin call or rule evaluation in the containment pool, ms. */
  PLUGIN_TIMEOUT_MS: number
  /** Heap limit of each containment worker thread, MiB. */
  PLUGIN_HEAP_MB: number
  /** Containment worker threads at most. */
  PLUGIN_THREADS: number
  PLUGIN_START_TIMEOUT_MS: number
  WEBHOOK_ALLOW_PRIVATE_TARGETS: boolean
  LOG_LEVEL: string
  BODY_LIMIT_BYTES: number
  RATE_LIMIT_MAX: number
  RATE_LIMIT_WINDOW_MS: number
  IDEMPOTENCY_TTL_HOURS: number
  /** Most requests of one tenant posted in one transaction (core/http/batch.ts); 1 turns batching off. */
  POSTING_BATCH_MAX: number
  /** Batches of one tenant in flight at once per process, split by customer. */
  POSTING_BATCH_LANES: number
  POSTING_QUEUE_MAX: number
  /** Secret the tenant keys that wrap customer data keys are derived from (HKDF); see core/privacy/keys.ts. */
  DATA_ENCRYPTION_KEY: string
  /** Unwrapped customer data keys kept per process for sealing writes (0 turns the cache off). */
  DATA_KEY_CACHE_SIZE: number
}

/** Development default of DATA_ENCRYPTION_KEY; refused in production like the admin token default. */
export const DEV_DATA_ENCRYPTION_KEY = 'dev-data-encryption-key-change-me-0123456789'

const schema = {
  type: 'object',
  required: [],
  properties: {
    NODE_ENV: { type: 'string', default: 'development' },
    HOST: { type: 'string', default: '127.0.0.1' },
    PORT: { type: 'integer', minimum: 0, maximum: 65535, default: 3000 },
    DATABASE_URL: { type: 'string', pattern: '^postgres(ql)?://', default: 'postgres://postgres@127.0.0.1:5432/receivables' },
    APP_DATABASE_URL: { type: 'string', default: '' },
    DB_APP_PASSWORD: { type: 'string', minLength: 1, default: 'recv_app' },
    DB_POOL_MAX: { type: 'integer', minimum: 1, maximum: 500, default: 20 },
    DB_PREPARED_STATEMENTS: { type: 'boolean', default: true },
    LISTEN_DATABASE_URL: { type: 'string', pattern: '^(|none|postgres(ql)?://.*)$', default: '' },
    REDIS_URL: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
    // Empty: derived from DATABASE_URL (defaultQueuePrefix), so deployments sharing a Redis do not share queues.
    QUEUE_PREFIX: { type: 'string', maxLength: 200, default: '' },
    PLATFORM_ADMIN_TOKEN: { type: 'string', minLength: 16, default: 'dev-platform-admin-token-change-me' },
    PLUGIN_PATH: { type: 'string', default: '' },
    PLUGIN_TIMEOUT_MS: { type: 'integer', minimum: 10, maximum: 60000, default: 250 },
    PLUGIN_HEAP_MB: { type: 'integer', minimum: 16, maximum: 4096, default: 64 },
    PLUGIN_THREADS: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
    // How long a call may wait for a worker thread to start (and a plugin module to load): startup
    // under load, not plugin code, so far longer than the call's own budget.
    PLUGIN_START_TIMEOUT_MS: { type: 'integer', minimum: 1000, maximum: 600000, default: 60000 },
    WEBHOOK_ALLOW_PRIVATE_TARGETS: { type: 'boolean', default: false },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 1048576 },
    RATE_LIMIT_MAX: { type: 'integer', minimum: 1, default: 6000 },
    RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, default: 60000 },
    IDEMPOTENCY_TTL_HOURS: { type: 'integer', minimum: 24, default: 48 },
    POSTING_BATCH_MAX: { type: 'integer', minimum: 1, maximum: 500, default: 64 },
    POSTING_BATCH_LANES: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
    POSTING_QUEUE_MAX: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
    DATA_ENCRYPTION_KEY: { type: 'string', minLength: 32, default: DEV_DATA_ENCRYPTION_KEY },
    DATA_KEY_CACHE_SIZE: { type: 'integer', minimum: 0, maximum: 1000000, default: 10000 },
  },
}

export function loadConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const data: Record<string, unknown> = { ...env }
  for (const [k, v] of Object.entries(overrides)) data[k] = v
  const config = envSchema<Config>({ schema, data, dotenv: false })
  if (!config.QUEUE_PREFIX) config.QUEUE_PREFIX = defaultQueuePrefix(config.DATABASE_URL)
  if (config.NODE_ENV === 'production' && config.PLATFORM_ADMIN_TOKEN === 'dev-platform-admin-token-change-me') {
    throw new Error('PLATFORM_ADMIN_TOKEN must be set in production')
  }
  if (config.NODE_ENV === 'production' && config.DATA_ENCRYPTION_KEY === DEV_DATA_ENCRYPTION_KEY) {
    throw new Error('DATA_ENCRYPTION_KEY must be set in production')
  }
  return config
}

/**
 * The queue prefix of a deployment that sets none: `{recv:<database>@<host>:<port>}`, from
 * DATABASE_URL (host lower-cased, port 5432 when absent; characters other than letters, digits and
 * `._-` become `_`). Two deployments on one Redis then use different queues unless their databases
 * have the same name on the same server. The braces keep the whole prefix one Redis Cluster hash
 * tag. Every process of a deployment must derive the same prefix (the same DATABASE_URL host
 * spelling) or set QUEUE_PREFIX explicitly.
 */
export function defaultQueuePrefix(databaseUrl: string): string {
  const url = new URL(databaseUrl)
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_')
  const database = clean(decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres')
  const host = clean(url.hostname.toLowerCase().replace(/^\[|\]$/g, '')) || 'localhost'
  return `{recv:${database}@${host}:${url.port || '5432'}}`
}

/** URL the API and workers use: the runtime role, never the owner. */
export function appDatabaseUrl(config: Config): string {
  if (config.APP_DATABASE_URL) return config.APP_DATABASE_URL
  const url = new URL(config.DATABASE_URL)
  url.username = APP_ROLE
  url.password = config.DB_APP_PASSWORD
  return url.toString()
}

/**
 * URL the outbox relay LISTENs on, or null for none (it then finds work by its periodic sweep only).
 * LISTEN needs a session of its own on the server: behind a pooler in transaction mode it must
 * point straight at Postgres.
 */
export function listenDatabaseUrl(config: Config): string | null {
  if (config.LISTEN_DATABASE_URL === 'none') return null
  return config.LISTEN_DATABASE_URL || appDatabaseUrl(config)
}

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
  REDIS_URL: string
  QUEUE_PREFIX: string
  PLATFORM_ADMIN_TOKEN: string
  PLUGIN_PATH: string
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
}

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
    REDIS_URL: { type: 'string', pattern: '^rediss?://', default: 'redis://127.0.0.1:6379' },
    QUEUE_PREFIX: { type: 'string', default: '{recv}' },
    PLATFORM_ADMIN_TOKEN: { type: 'string', minLength: 16, default: 'dev-platform-admin-token-change-me' },
    PLUGIN_PATH: { type: 'string', default: '' },
    WEBHOOK_ALLOW_PRIVATE_TARGETS: { type: 'boolean', default: false },
    LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    BODY_LIMIT_BYTES: { type: 'integer', minimum: 1024, maximum: 10485760, default: 1048576 },
    RATE_LIMIT_MAX: { type: 'integer', minimum: 1, default: 6000 },
    RATE_LIMIT_WINDOW_MS: { type: 'integer', minimum: 1000, default: 60000 },
    IDEMPOTENCY_TTL_HOURS: { type: 'integer', minimum: 24, default: 48 },
    POSTING_BATCH_MAX: { type: 'integer', minimum: 1, maximum: 500, default: 64 },
    POSTING_BATCH_LANES: { type: 'integer', minimum: 1, maximum: 64, default: 2 },
    POSTING_QUEUE_MAX: { type: 'integer', minimum: 1, maximum: 100000, default: 1000 },
  },
}

export function loadConfig(overrides: Partial<Config> = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const data: Record<string, unknown> = { ...env }
  for (const [k, v] of Object.entries(overrides)) data[k] = v
  const config = envSchema<Config>({ schema, data, dotenv: false })
  if (config.NODE_ENV === 'production' && config.PLATFORM_ADMIN_TOKEN === 'dev-platform-admin-token-change-me') {
    throw new Error('PLATFORM_ADMIN_TOKEN must be set in production')
  }
  return config
}

/** URL the API and workers use: the runtime role, never the owner. */
export function appDatabaseUrl(config: Config): string {
  if (config.APP_DATABASE_URL) return config.APP_DATABASE_URL
  const url = new URL(config.DATABASE_URL)
  url.username = APP_ROLE
  url.password = config.DB_APP_PASSWORD
  return url.toString()
}

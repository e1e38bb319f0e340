import type Redis from 'ioredis'
import type { FastifyRateLimitStore } from '@fastify/rate-limit'

/**
 * The rate limiter's counters in Redis (the `store` of @fastify/rate-limit), counted like its own
 * RedisStore but with one call per bucket and turn of the event loop: the requests of one key that
 * arrive together (a merchant's busy key sends many per turn) are counted by one INCRBY of their
 * number instead of one script call each. Each request still gets the count it would have had
 * alone, the count before the call plus its place among them, so budgets, headers and 429s are
 * unchanged; Redis and this process do a fraction of the work.
 */

/** Adds ARGV[2] requests to a bucket; starts its window when this call created it. Returns {count, ttl ms}. */
const COUNT = `
  local n = tonumber(ARGV[2])
  local current = redis.call('INCRBY', KEYS[1], n)
  local ttl = tonumber(ARGV[1])
  if current == n then
    redis.call('PEXPIRE', KEYS[1], ttl)
  else
    ttl = redis.call('PTTL', KEYS[1])
  end
  return {current, ttl}
`

type Callback = Parameters<FastifyRateLimitStore['incr']>[1]

interface CountingRedis extends Redis {
  rateLimitCount(key: string, timeWindowMs: number, n: number): Promise<[number, number]>
}

/** What the plugin hands a store: its options, and for a route's own limit the route (`routeInfo`). */
interface StoreParams {
  continueExceeding?: boolean
  exponentialBackoff?: boolean
  routeInfo?: { method?: string | string[]; url?: string }
}

/** The store class for the plugin's `store` option: counters under `nameSpace` in `redis`. */
export function coalescingRedisStore(redis: Redis, nameSpace: string) {
  const counting = redis as CountingRedis
  if (!('rateLimitCount' in counting)) redis.defineCommand('rateLimitCount', { numberOfKeys: 1, lua: COUNT })

  return class CoalescingRedisStore implements FastifyRateLimitStore {
    /** Redis key → the window and the callbacks of the requests waiting for this turn's call. */
    private pending = new Map<string, { timeWindow: number; callbacks: Callback[] }>()
    private readonly prefix: string

    constructor(params: StoreParams | object, prefix = nameSpace) {
      const p = params as StoreParams
      // The plugin's options that change the window once exceeded are not ours: say so, do not ignore them.
      if (p.continueExceeding || p.exponentialBackoff) throw new Error('rate limit store: continueExceeding and exponentialBackoff are not supported')
      this.prefix = prefix
    }

    incr(key: string, cb: Callback, timeWindow: number, _max?: number): void {
      const redisKey = this.prefix + key
      // (A route with its own limit has its own store and keys: one key, one window.)
      let bucket = this.pending.get(redisKey)
      if (!bucket) {
        this.pending.set(redisKey, (bucket = { timeWindow, callbacks: [] }))
        // At the end of this turn (after the I/O callbacks that read the other requests).
        setImmediate(() => {
          this.pending.delete(redisKey)
          void this.count(redisKey, bucket!.timeWindow, bucket!.callbacks)
        })
      }
      bucket.callbacks.push(cb)
    }

    private async count(redisKey: string, timeWindow: number, callbacks: Callback[]): Promise<void> {
      let total: number, ttl: number
      try {
        ;[total, ttl] = await counting.rateLimitCount(redisKey, timeWindow, callbacks.length)
      } catch (err) {
        for (const cb of callbacks) cb(err as Error)
        return
      }
      const before = total - callbacks.length
      callbacks.forEach((cb, i) => cb(null, { current: before + i + 1, ttl }))
    }

    /** A route with its own limit counts apart (as the plugin's RedisStore does). */
    child(routeOptions: Parameters<FastifyRateLimitStore['child']>[0]): CoalescingRedisStore {
      const params = routeOptions as unknown as StoreParams // the plugin's types name the route's options; it passes its merged params
      return new CoalescingRedisStore(params, `${this.prefix}${params.routeInfo?.method ?? ''}${params.routeInfo?.url ?? ''}-`)
    }
  }
}

import type Redis from 'ioredis'

/**
 * Per-tenant concurrency caps across all workers: a sorted set per (job type, tenant) of running
 * job ids scored by lease expiry, so a worker that dies mid-job frees its slot when the lease ends.
 * Redis time is used so worker clocks need not agree.
 */

const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
return 0`

/** The key shares the queue prefix (a Cluster hash tag), so it lives in the same slot as the queues. */
export function slotKey(prefix: string, type: string, tenantId: string): string {
  return `${prefix}:tenant-slots:${type}:${tenantId}`
}

export async function acquireSlot(redis: Redis, key: string, cap: number, leaseMs: number, member: string): Promise<boolean> {
  return (await redis.eval(ACQUIRE, 1, key, leaseMs, cap, member)) === 1
}

export async function releaseSlot(redis: Redis, key: string, member: string): Promise<void> {
  await redis.zrem(key, member)
}

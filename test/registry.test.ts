import t from 'tap'
import { loadConfig } from '../core/kernel/config'
import { defineEventConsumer } from '../core/events/consumers'
import '../core/events/dispatch'
import '../core/reconciliation/jobs'
import '../core/webhooks/delivery'
import { jobTypes } from '../core/jobs/queues'
import { workerRegistry } from '../core/jobs/registry'

/** Nothing registers itself by being imported; the worker's registry is the one list. */
t.test('importing the modules that define jobs, consumers and sweeps registers nothing', async (t) => {
  t.same(jobTypes(), [], 'no job type is known before start-up hands the registry over')
})

t.test('workerRegistry lists every job, consumer, sweep and schedule, built on the config', async (t) => {
  const config = loadConfig({ WEBHOOK_ALLOW_PRIVATE_TARGETS: true }, {})
  const r = workerRegistry(config)
  t.same(r.jobs.map((j) => j.type).sort(), ['credit-policy', 'credit-policy-evaluate', 'event-dispatch', 'import', 'notification-send', 'reconciliation', 'retention', 'statement-run', 'webhook-delivery'])
  t.same(r.consumers.map((c) => c.name), ['webhooks', 'credit-policy'])
  t.same(r.sweeps.map((s) => s.name).sort(), ['credit-policy-evaluate-requeue', 'credit-policy-requeue', 'import-requeue', 'notifications', 'reconciliation-requeue', 'retention-requeue', 'webhook-deliveries'])
  t.same(r.schedules.map((s) => s.name), ['nightly-reconciliation', 'nightly-retention', 'nightly-credit-policy'])
  t.same(jobTypes(), [], 'building the list registers nothing either')
  const without = workerRegistry(config, { omit: ['credit-policy'] })
  t.same([without.consumers.map((c) => c.name), without.jobs.some((j) => j.type === 'credit-policy')], [['webhooks'], false], 'omit leaves built-in work out by name')

  const extra = defineEventConsumer({ name: 'test-extra', consume: async () => undefined })
  t.same(workerRegistry(config, { extra: { consumers: [extra] } }).consumers.map((c) => c.name), ['webhooks', 'credit-policy', 'test-extra'], 'extra consumers run after the built-in ones')
  t.throws(() => workerRegistry(config, { extra: { consumers: [extra, extra] } }), /already registered/)
  t.throws(() => defineEventConsumer({ name: 'Bad Name', consume: async () => undefined }), /invalid name/)
  t.throws(() => workerRegistry(config, { webhooks: { timeoutMs: 0 } }), /timeoutMs/, 'delivery settings are validated when the list is built')
})

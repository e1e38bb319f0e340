import path from 'node:path'
import { pluginRuntime } from '../kernel/plugins/runtime'
import type { CustomerOutcome, EvaluationInput } from './evaluate'

const EVALUATE_MODULE = path.join(__dirname, `evaluate${path.extname(__filename)}`) // .ts, or .js in the build

/**
 * The one call site of rule evaluation: JSON-logic rules are data a tenant admin wrote, so they are
 * evaluated in the containment pool (PLUGINS.md "Containment"), never on the thread that serves
 * requests. The time budget grows with the batch (one call evaluates every customer of a sweep
 * chunk); a runaway rule set fails its own job or request with `plugin_failed`.
 */
export async function runRules(input: EvaluationInput): Promise<CustomerOutcome[]> {
  const pool = pluginRuntime().pool
  return pool.runContained<CustomerOutcome[]>({ module: EVALUATE_MODULE, fn: 'evaluateRules', args: [input] }, { timeoutMs: pool.timeoutMs + input.batch.length })
}

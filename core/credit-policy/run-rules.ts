import { evaluateRules, type CustomerOutcome, type EvaluationInput } from './evaluate'

/**
 * The one call site of rule evaluation. Runs in-process today; when contained execution
 * (runContained, core/kernel/plugins) lands, this becomes `runContained('credit-policy-evaluate', input)`
 * and a runaway rule fails its own job with `plugin_failed`.
 */
export async function runRules(input: EvaluationInput): Promise<CustomerOutcome[]> {
  return evaluateRules(input)
}

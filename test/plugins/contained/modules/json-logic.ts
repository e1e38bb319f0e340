import jsonLogic from 'json-logic-js'

/** A pure module run contained: evaluates a JSON-logic rule over data. */
export function evaluate(rule: unknown, data: unknown): unknown {
  return jsonLogic.apply(rule as jsonLogic.RulesLogic, data)
}

/**
 * Runs inside the containment pool only (credit-policy.ts calls it there): loads a credit-policy
 * plugin's entry module in the worker thread and calls its `facts` hook for each customer of a batch.
 */
export function pluginFactsBatch(entry: string, config: Record<string, unknown>, batch: { customer: string; facts: Record<string, unknown> }[]): Record<string, unknown>[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const plugin = (require(entry) as { creditPolicy?: { facts?: (c: { id: string }, base: Record<string, unknown>, config: Record<string, unknown>) => Record<string, unknown> } }).creditPolicy
  if (typeof plugin?.facts !== 'function') throw new Error('the plugin has no facts hook')
  return batch.map((b) => plugin.facts!({ id: b.customer }, b.facts, config))
}

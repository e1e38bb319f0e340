/** A credit-policy plugin: a kind the core runs, so enabling it is accepted. */
export const creditPolicy = {
  rules: () => [],
}

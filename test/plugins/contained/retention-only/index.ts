/** A retention plugin: a kind the core cannot run yet, so enabling it is refused. */
export const retention = {
  policies: () => [{ data_type: 'events', retain_days: 365, action: 'delete' }],
}

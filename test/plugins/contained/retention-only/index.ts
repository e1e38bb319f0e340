/** A partner retention plugin whose policies are invalid ('delete' is no action): refused when resolved. */
export const retention = {
  policies: () => [{ data_type: 'events', retain_days: 365, action: 'delete' }],
}

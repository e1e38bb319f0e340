/** A notification channel: a kind the core cannot run yet, so enabling it is refused. */
export const notificationChannel = {
  send: () => ({ status: 'sent', retryable: false }),
}

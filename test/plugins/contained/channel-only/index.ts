/** A partner notification channel: described and called in the containment pool only. */
export const notificationChannel = {
  recipient: 'customer',
  send: (message: { id: string }) => ({ status: 'sent', provider_id: `partner-${message.id}`, retryable: false }),
}

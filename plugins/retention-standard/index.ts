import type { RetentionPlugin, RetentionPolicy } from '../../core/kernel/plugins/contract'

/**
 * The default retention of PLUGINS.md: ledger documents 7 years (archived), soft-deleted customers 2
 * years then anonymized, notifications and communications 2 years, webhook deliveries 90 days,
 * events 1 year, idempotency keys 48 hours; the audit log is only ever archived (7 years here).
 */
interface Config {
  documents_years?: number
  soft_deleted_customers_years?: number
}

const YEAR = 365

export const retention: RetentionPlugin<Config> = {
  policies(config: Config): RetentionPolicy[] {
    const documents = (config.documents_years ?? 7) * YEAR
    return [
      { data_type: 'documents', retain_days: documents, action: 'archive' },
      { data_type: 'audit_log', retain_days: documents, action: 'archive' },
      { data_type: 'soft_deleted_customers', retain_days: (config.soft_deleted_customers_years ?? 2) * YEAR, action: 'anonymize' },
      { data_type: 'notifications', retain_days: 2 * YEAR, action: 'purge' },
      { data_type: 'communications', retain_days: 2 * YEAR, action: 'purge' },
      { data_type: 'webhook_deliveries', retain_days: 90, action: 'purge' },
      { data_type: 'events', retain_days: YEAR, action: 'purge' },
      { data_type: 'idempotency_keys', retain_days: 2, action: 'purge' },
    ]
  },
}

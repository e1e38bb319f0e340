import type { Permission } from '../kernel/permissions'

/**
 * The one table of route permissions: every route an API key may call, with the permissions its
 * caller's role must hold (all of them). `authenticated`: any valid key of the tenant. Routes that
 * use the platform token or none (`config.auth`) are not listed. A route missing here fails at
 * startup (core/http/auth.ts), and the permission matrix test walks this table.
 *
 * Row level is not decided here: a role limited to its own customers sees only their rows (row-level
 * security), so a document of another customer answers 404 on every route below.
 */
export const ROUTE_PERMISSIONS: Record<string, readonly Permission[] | 'authenticated'> = {
  // control plane
  'GET /v1/permissions': 'authenticated',
  'GET /v1/roles': 'authenticated',
  'POST /v1/roles': ['roles.manage'],
  'GET /v1/roles/:id': 'authenticated',
  'PATCH /v1/roles/:id': ['roles.manage'],
  'DELETE /v1/roles/:id': ['roles.manage'],
  'POST /v1/api-keys': ['api_keys.manage'],
  'GET /v1/api-keys': ['api_keys.view'],
  'DELETE /v1/api-keys/:id': ['api_keys.manage'],
  'GET /v1/test-clock': ['settings.view'],
  'POST /v1/test-clock/advance': ['settings.manage'],
  // customers
  'POST /v1/customers': ['customers.create'],
  'GET /v1/customers': ['customers.basic.view'],
  'GET /v1/customers/:id': ['customers.basic.view'],
  'PATCH /v1/customers/:id': ['customers.basic.edit'],
  'DELETE /v1/customers/:id': ['customers.delete'],
  'POST /v1/customers/:id/restore': ['customers.restore'],
  'GET /v1/customers/:id/transactions': ['customers.balance.view'],
  'GET /v1/customers/:id/statement': ['customers.balance.view'],
  // documents
  'POST /v1/invoices': ['invoices.create'],
  'GET /v1/invoices': ['invoices.view'],
  'GET /v1/invoices/:id': ['invoices.view'],
  'POST /v1/invoices/:id/void': ['reversals.create'],
  'POST /v1/sales': ['sales.create'],
  'GET /v1/sales': ['sales.view'],
  'GET /v1/sales/:id': ['sales.view'],
  'POST /v1/sales/:id/cancel': ['sales.cancel'],
  'POST /v1/payments': ['payments.create'],
  'GET /v1/payments': ['payments.view'],
  'GET /v1/payments/:id': ['payments.view'],
  'POST /v1/payments/:id/void': ['reversals.create'],
  'POST /v1/allocations': ['allocations.create'],
  'GET /v1/allocations/:id': ['allocations.view'],
  'POST /v1/allocations/:id/reverse': ['reversals.create'],
  'POST /v1/credit-notes': ['credit_notes.create'],
  'GET /v1/credit-notes': ['credit_notes.view'],
  'GET /v1/credit-notes/:id': ['credit_notes.view'],
  'POST /v1/refunds': ['refunds.create'],
  'GET /v1/refunds': ['refunds.view'],
  'GET /v1/refunds/:id': ['refunds.view'],
  'POST /v1/write-offs': ['write_offs.create'],
  'GET /v1/write-offs': ['write_offs.view'],
  'GET /v1/write-offs/:id': ['write_offs.view'],
  'POST /v1/adjustments': ['adjustments.create'],
  'GET /v1/adjustments': ['adjustments.view'],
  'GET /v1/adjustments/:id': ['adjustments.view'],
  'POST /v1/transactions/:id/reverse': ['reversals.create'],
  // reports, ledger, periods
  'GET /v1/reports/aging': ['reports.view', 'customers.balance.view'],
  'GET /v1/journal-entries': ['ledger.view'],
  'GET /v1/journal-entries/:id': ['ledger.view'],
  'GET /v1/accounts': ['ledger.view'],
  'GET /v1/trial-balance': ['ledger.view'],
  'POST /v1/periods': ['periods.manage'],
  'GET /v1/periods': ['periods.view'],
  'GET /v1/periods/:id': ['periods.view'],
  'POST /v1/periods/:id/close': ['periods.close'],
  'POST /v1/periods/:id/reopen': ['periods.reopen'],
  'POST /v1/periods/:id/lock': ['periods.lock'],
  // integrity and audit
  'POST /v1/reconciliations': ['reconciliation.run'],
  'GET /v1/reconciliations': ['reconciliation.view'],
  'GET /v1/reconciliations/:id': ['reconciliation.view'],
  'POST /v1/reconciliations/:id/repair': ['reconciliation.repair'],
  'GET /v1/audit-log': ['audit.view'],
  'GET /v1/audit-log/verify': ['audit.verify'],
  // events, webhooks, plugins
  'GET /v1/events': ['events.view'],
  'GET /v1/events/:id': ['events.view'],
  'POST /v1/events/:id/redeliver': ['webhooks.manage'],
  'POST /v1/webhook-endpoints': ['webhooks.manage'],
  'GET /v1/webhook-endpoints': ['webhooks.view'],
  'GET /v1/webhook-endpoints/:id': ['webhooks.view'],
  'PATCH /v1/webhook-endpoints/:id': ['webhooks.manage'],
  'DELETE /v1/webhook-endpoints/:id': ['webhooks.manage'],
  'POST /v1/webhook-endpoints/:id/rotate-secret': ['webhooks.manage'],
  'GET /v1/webhook-endpoints/:id/deliveries': ['webhooks.view'],
  'GET /v1/webhook-endpoints/:id/deliveries/:delivery/attempts': ['webhooks.view'],
  'GET /v1/plugins': ['plugins.view'],
  'PUT /v1/plugins/:name': ['plugins.manage'],
  // approvals, settings, credit limits (issue 11, second part)
  'GET /v1/settings': ['settings.view'],
  'PATCH /v1/settings': ['settings.manage'],
  'GET /v1/approval-requests': ['approvals.approve'],
  'GET /v1/approval-requests/:id': ['approvals.approve'],
  'POST /v1/approval-requests/:id/approve': ['approvals.approve'],
  'POST /v1/approval-requests/:id/reject': ['approvals.approve'],
  'POST /v1/customers/:id/credit-limit-requests': ['customers.basic.edit'],
  'GET /v1/customers/:id/credit-limit-history': ['customers.balance.view'],
  'GET /v1/credit-limit-requests': ['customers.balance.view'],
  'GET /v1/credit-limit-requests/:id': ['customers.balance.view'],
  'POST /v1/credit-limit-requests/:id/approve': ['credit_limits.approve'],
  'POST /v1/credit-limit-requests/:id/reject': ['credit_limits.approve'],
  // credit policy (issue 12)
  'GET /v1/credit-policy': ['customers.balance.view'],
  'PUT /v1/credit-policy': ['credit_policy.edit'],
  'GET /v1/credit-policy/versions': ['customers.balance.view'],
  'GET /v1/credit-policy/versions/:version': ['customers.balance.view'],
  'POST /v1/credit-policy/versions/:version/restore': ['credit_policy.edit'],
  'POST /v1/credit-policy/dry-run': ['credit_policy.edit', 'customers.balance.view'],
  'POST /v1/credit-policy/runs': ['credit_policy.edit'],
  'GET /v1/credit-policy/runs/:id': ['customers.balance.view'],
  'GET /v1/customers/:id/credit': ['customers.balance.view'],
}

export function routeKey(method: string, url: string): string {
  return `${method} ${url}`
}

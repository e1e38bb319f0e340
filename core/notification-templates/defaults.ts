/**
 * The built-in template keys (API.md) with their default English texts, and the placeholders a
 * template may use. Templates are logic-less (mustache): `{{name}}` placeholders, `{{#invoices}}…
 * {{/invoices}}` over the open invoices, `{{#x}}…{{/x}}` / `{{^x}}…{{/x}}` to show text only when a
 * value is there or not. Partials and delimiter changes are refused.
 */

export const TEMPLATE_KEYS = [
  'payment_reminder',
  'overdue_warning_1',
  'overdue_warning_2',
  'overdue_warning_3',
  'suspension_notice',
  'reactivation_notice',
  'statement',
  'receipt',
  'dispute_update',
] as const

/** Every placeholder outside a section. `data.*` is whatever the sender passed in `data`. */
export const PLACEHOLDERS = [
  'customer.id', 'customer.name', 'customer.email', 'customer.phone',
  'merchant.name', 'merchant.email', 'merchant.phone',
  'currency', 'balance', 'overdue_amount', 'overdue_invoice_count', 'max_days_overdue', 'level', 'today',
  'invoices', 'statement.from', 'statement.to', 'statement.closing_balance',
  'promised_amount', 'promised_date', 'reason',
  'payment.amount', 'payment.reference', 'payment.received_date',
  'dispute.id', 'dispute.status', 'dispute.resolution',
] as const

/** Placeholders inside `{{#invoices}}…{{/invoices}}`. */
export const INVOICE_PLACEHOLDERS = ['number', 'id', 'issue_date', 'due_date', 'total', 'outstanding', 'days_overdue'] as const

export const MAX_BODY_CHARS = 16_384
export const MAX_SUBJECT_CHARS = 200

const SIGN = '\n\n{{merchant.name}}'
const INVOICE_LINES = '{{#invoices}}\n- {{number}} due {{due_date}}: {{outstanding}} {{currency}}{{/invoices}}'

export const DEFAULT_TEMPLATES: Record<(typeof TEMPLATE_KEYS)[number], { subject: string; body: string }> = {
  payment_reminder: {
    subject: 'Payment reminder from {{merchant.name}}',
    body: `Dear {{customer.name}},\n\nthis is a friendly reminder that {{balance}} {{currency}} is due on your account.${INVOICE_LINES}\n\nIf you have already paid, please disregard this message.${SIGN}`,
  },
  overdue_warning_1: {
    subject: 'Your account is overdue',
    body: `Dear {{customer.name}},\n\n{{overdue_amount}} {{currency}} on your account is past due (up to {{max_days_overdue}} days).${INVOICE_LINES}\n\nPlease arrange payment at your earliest convenience.${SIGN}`,
  },
  overdue_warning_2: {
    subject: 'Second notice: overdue balance of {{overdue_amount}} {{currency}}',
    body: `Dear {{customer.name}},\n\nwe have not yet received payment of {{overdue_amount}} {{currency}}, now up to {{max_days_overdue}} days overdue.${INVOICE_LINES}\n\nPlease pay within 7 days or contact us to agree a payment plan.${SIGN}`,
  },
  overdue_warning_3: {
    subject: 'Final notice before suspension of your account',
    body: `Dear {{customer.name}},\n\n{{overdue_amount}} {{currency}} remains unpaid despite our reminders.${INVOICE_LINES}\n\nUnless we receive payment, purchases on account will be suspended.${SIGN}`,
  },
  suspension_notice: {
    subject: 'Your account has been suspended',
    body: `Dear {{customer.name}},\n\npurchases on account are suspended because {{overdue_amount}} {{currency}} is overdue.{{#reason}} Reason: {{reason}}.{{/reason}}\n\nOnce the overdue balance is paid your account will be reactivated. Cash purchases are not affected.${SIGN}`,
  },
  reactivation_notice: {
    subject: 'Your account is active again',
    body: `Dear {{customer.name}},\n\nthank you for your payment. Your account is active again and you can buy on account as before.${SIGN}`,
  },
  statement: {
    subject: 'Your statement {{statement.from}} to {{statement.to}}',
    body: `Dear {{customer.name}},\n\nplease find attached your statement of account for {{statement.from}} to {{statement.to}}. Closing balance: {{statement.closing_balance}} {{currency}}.${SIGN}`,
  },
  receipt: {
    subject: 'Payment received: thank you',
    body: `Dear {{customer.name}},\n\nwe received your payment of {{payment.amount}} {{currency}}{{#payment.reference}} (reference {{payment.reference}}){{/payment.reference}}. Your balance is now {{balance}} {{currency}}.${SIGN}`,
  },
  dispute_update: {
    subject: 'Update on your dispute {{dispute.id}}',
    body: `Dear {{customer.name}},\n\nyour dispute {{dispute.id}} is now {{dispute.status}}.{{#dispute.resolution}}\n\n{{dispute.resolution}}{{/dispute.resolution}}${SIGN}`,
  },
}

export function isBuiltInKey(key: string): key is (typeof TEMPLATE_KEYS)[number] {
  return (TEMPLATE_KEYS as readonly string[]).includes(key)
}

import { AbilityBuilder, createMongoAbility, MongoAbility, subject } from '@casl/ability'

export const ROLES = ['admin', 'accountant', 'manager', 'cashier', 'credit_manager', 'sales_rep', 'compliance', 'auditor'] as const
export type Role = (typeof ROLES)[number]

/**
 * Actions beyond CRUD: `read_pii` (unmasked email/phone/tax id/addresses), `override_credit`
 * (pass the credit-limit check with a reason), `reopen` (closed period back to open), `repair`
 * (rebuild caches after reconciliation), `restore` (undelete a customer).
 */
export type Action = 'manage' | 'create' | 'read' | 'update' | 'delete' | 'read_pii' | 'override_credit' | 'reopen' | 'lock' | 'repair' | 'restore'

export type Subject =
  | 'all'
  | 'Tenant'
  | 'ApiKey'
  | 'Customer'
  | 'Invoice'
  | 'Sale'
  | 'Payment'
  | 'Allocation'
  | 'CreditNote'
  | 'Refund'
  | 'WriteOff'
  | 'Adjustment'
  | 'Transaction'
  | 'JournalEntry'
  | 'Account'
  | 'Period'
  | 'Report'
  | 'AuditLog'
  | 'Plugin'
  | 'WebhookEndpoint'
  | 'Event'
  | 'Reconciliation'

export type AppAbility = MongoAbility<[Action, Subject | Record<string, unknown>]>

const LEDGER_DOCS: Subject[] = ['Invoice', 'Sale', 'Payment', 'Allocation', 'CreditNote', 'Refund', 'WriteOff', 'Adjustment', 'Transaction']
const LEDGER_READS: Subject[] = [...LEDGER_DOCS, 'JournalEntry', 'Account', 'Period', 'Report']

/** Role → abilities. `keyId` feeds row-level conditions (a sales rep sees only assigned customers). */
export function defineAbility(role: Role, keyId: string): AppAbility {
  const { can, cannot, build } = new AbilityBuilder<AppAbility>(createMongoAbility)
  switch (role) {
    case 'admin':
      can('manage', 'all')
      break
    case 'accountant':
      can(['read', 'create', 'update'], ['Customer', ...LEDGER_DOCS])
      can('read_pii', 'Customer')
      can('read', [...LEDGER_READS, 'Event', 'Reconciliation', 'Plugin', 'WebhookEndpoint'])
      can(['create', 'update', 'reopen'], 'Period')
      can('create', 'Reconciliation')
      break
    case 'manager':
      can(['read', 'create', 'update'], ['Customer', 'Invoice', 'Sale', 'Payment', 'Allocation', 'CreditNote', 'Refund', 'Adjustment'])
      can('read_pii', 'Customer')
      can('read', [...LEDGER_READS, 'Event', 'Reconciliation'])
      break
    case 'cashier':
      can('read', ['Customer', 'Invoice', 'Sale', 'Payment'])
      can('create', ['Customer', 'Sale', 'Payment'])
      can('update', 'Sale') // cancel a sale at the till
      break
    case 'credit_manager':
      can(['read', 'update'], 'Customer')
      can('read_pii', 'Customer')
      can('override_credit', 'Customer')
      can('read', [...LEDGER_READS, 'Reconciliation'])
      can('create', ['Invoice', 'Sale', 'WriteOff'])
      break
    case 'sales_rep':
      can('read', 'Customer', { assigned_to: keyId })
      can('read_pii', 'Customer', { assigned_to: keyId })
      can('create', 'Customer')
      can('create', ['Invoice', 'Sale'])
      can('read', ['Invoice', 'Sale', 'Payment'])
      break
    case 'compliance':
      can('read', ['Customer', 'AuditLog', 'Event', 'Reconciliation', ...LEDGER_READS])
      can('read_pii', 'Customer')
      can(['delete', 'restore'], 'Customer')
      break
    case 'auditor':
      can('read', ['Customer', 'AuditLog', 'Event', 'Reconciliation', 'Plugin', 'WebhookEndpoint', 'ApiKey', ...LEDGER_READS])
      break
  }
  cannot('create', 'Tenant') // tenants are provisioned with the platform token only
  return build()
}

const abilityCache = new Map<string, AppAbility>()

/** Memoized `defineAbility`: abilities are pure functions of role and key id. */
export function abilityFor(role: Role, keyId: string): AppAbility {
  const k = `${role}:${keyId}`
  let a = abilityCache.get(k)
  if (!a) {
    if (abilityCache.size > 10000) abilityCache.clear()
    abilityCache.set(k, (a = defineAbility(role, keyId)))
  }
  return a
}

// ---- customer rows and PII ----------------------------------------------------------------------

/** A customer (row or snapshot) as a CASL subject, so row-level conditions (assigned_to) apply. */
export function asCustomerSubject(customer: object) {
  return subject('Customer', { ...customer } as Record<string, unknown>)
}

export function canReadCustomerPii(ctx: { ability: AppAbility }, customer: { assigned_to?: string | null }): boolean {
  return ctx.ability.can('read_pii', asCustomerSubject({ assigned_to: customer.assigned_to ?? null }))
}

function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  return at > 0 ? `${email[0]}***${email.slice(at)}` : '***'
}

function maskTail(value: string): string {
  // Short values would be revealed whole by their last two characters. Characters, not UTF-16
  // units: half a surrogate pair would make the answer invalid Unicode.
  const chars = Array.from(value)
  return chars.length > 4 ? `***${chars.slice(-2).join('')}` : '***'
}

/**
 * Masks the PII fields present in a customer snapshot (email, phone, tax id, addresses), for a reader
 * without `read_pii`. Also used on audit before/after snapshots.
 */
export function maskCustomerPii<T extends Record<string, unknown>>(snapshot: T): T {
  const masked: Record<string, unknown> = { ...snapshot }
  if (typeof masked.email === 'string') masked.email = maskEmail(masked.email)
  if (typeof masked.phone === 'string') masked.phone = maskTail(masked.phone)
  if (typeof masked.tax_id === 'string') masked.tax_id = maskTail(masked.tax_id)
  if ('billing_address' in masked) masked.billing_address = null
  if ('shipping_address' in masked) masked.shipping_address = null
  return masked as T
}

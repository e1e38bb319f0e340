import { AbilityBuilder, createMongoAbility, MongoAbility } from '@casl/ability'
import { permittedFieldsOf } from '@casl/ability/extra'

/**
 * Who may do what, declared once: named permissions (this file) → roles (the built-ins below, or a
 * tenant's custom roles in `tenants/roles.ts`) → a CASL ability per API key. Three levels:
 *
 * - route: every route names the permission that guards it in `core/http/access.ts` (one table);
 * - field: `FIELD_RULES` says which permission views and which edits each guarded field of an
 *   object; a field the caller may not view is removed from every response (core/http/fields.ts),
 *   writing one it may not edit is 403 `field_not_permitted`;
 * - row: a role limited to its own customers (`own_customers_only`) sees and acts on the customers
 *   assigned to its key id or its `user` label, and on every row of theirs. Postgres enforces it:
 *   the request transaction carries the key's owners (`app.owners`) and restrictive row-level
 *   policies hide every other customer's rows (migration 20261201000010_permissions).
 */

export interface PermissionInfo {
  description: string
  /**
   * `customer`: what it grants can be limited to a key's own customers (row-level security filters
   * it). `tenant`: it acts on the tenant as a whole (the ledger, periods, settings, keys), so a role
   * limited to its own customers cannot hold it.
   */
  scope: 'customer' | 'tenant'
}

const c = (description: string): PermissionInfo => ({ description, scope: 'customer' })
const t = (description: string): PermissionInfo => ({ description, scope: 'tenant' })

export const PERMISSIONS = {
  'customers.basic.view': c('Read customers: name, status, currency, payment terms, external id, assignment, metadata.'),
  'customers.basic.edit': c('Change those fields of a customer.'),
  'customers.create': c('Create customers.'),
  'customers.pii.view': c('See personal data: email, phone, tax id and addresses.'),
  'customers.pii.edit': c('Write personal data (a key may capture what it cannot read back).'),
  'customers.balance.view': c('See balances, credit limits, the sub-ledger, statements and aging.'),
  'customers.credit_limit.edit': c('Set a credit limit or a temporary limit directly.'),
  'customers.delete': c('Delete (soft) a customer.'),
  'customers.restore': c('Restore a deleted customer.'),
  'customers.export': c('Export customers and their data.'),
  'customers.anonymize': c('Anonymize a customer (erasure).'),
  'customers.merge': c('Merge duplicate customers.'),
  'invoices.view': c('Read invoices.'),
  'invoices.create': c('Post invoices.'),
  'sales.view': c('Read point-of-sale sales.'),
  'sales.create': c('Record sales at the till.'),
  'sales.cancel': c('Cancel a sale.'),
  'payments.view': c('Read payments.'),
  'payments.create': c('Record payments.'),
  'allocations.view': c('Read allocations.'),
  'allocations.create': c('Apply credit to invoices.'),
  'credit_notes.view': c('Read credit notes.'),
  'credit_notes.create': c('Issue credit notes.'),
  'refunds.view': c('Read refunds.'),
  'refunds.create': c('Refund customer credit.'),
  'write_offs.view': c('Read write-offs.'),
  'write_offs.create': c('Write invoices off as bad debt.'),
  'adjustments.view': c('Read balance adjustments.'),
  'adjustments.create': c('Post balance adjustments.'),
  'reversals.create': c('Void or reverse posted documents, allocations and transactions.'),
  'credit.override': c('Pass the credit-limit check with a reason.'),
  'reports.view': c('Read reports (aging rows are limited to the customers the key sees).'),
  'events.view': c('Read events.'),
  'audit.view': c('Read the audit log.'),
  'notifications.send': c('Send notifications to customers; retry them; log communications.'),
  'notifications.view': c('Read notifications, their attempts and the communications log.'),
  'disputes.view': c('Read disputes and their evidence.'),
  'disputes.manage': c('Open disputes (a chargeback posts), upload evidence, submit and resolve them.'),
  'ledger.view': t('Read journal entries, accounts and the trial balance.'),
  'periods.view': t('Read accounting periods.'),
  'periods.manage': t('Create accounting periods.'),
  'periods.close': t('Close a period.'),
  'periods.reopen': t('Reopen a closed period.'),
  'periods.lock': t('Lock a period for good.'),
  'reconciliation.view': t('Read reconciliation runs.'),
  'reconciliation.run': t('Start a reconciliation.'),
  'reconciliation.repair': t('Repair cached balances after a failed reconciliation.'),
  'audit.verify': t('Verify the whole audit chain.'),
  'webhooks.view': t('Read webhook endpoints and deliveries.'),
  'webhooks.manage': t('Create, change and delete webhook endpoints; redeliver events.'),
  'plugins.view': t('Read plugins.'),
  'plugins.manage': t('Enable and configure plugins.'),
  'api_keys.view': t('List API keys.'),
  'api_keys.manage': t('Create and revoke API keys.'),
  'roles.manage': t('Create, change and delete custom roles.'),
  'settings.view': t('Read tenant settings and the test clock.'),
  'settings.manage': t('Change tenant settings; advance the test clock.'),
  'credit_policy.edit': t('Edit the credit policy.'),
  'credit_limits.approve': t('Approve credit-limit increases.'),
  'approvals.approve': t('Approve or reject four-eyes approval requests.'),
  'imports.create': t('Import data.'),
  'notifications.manage': t('Configure notification channels and templates; start statement runs.'),
} as const satisfies Record<string, PermissionInfo>

export type Permission = keyof typeof PERMISSIONS
export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[]

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name)
}

/**
 * A staff member's label on an API key (`user`), which `assigned_to` may name: no underscore, so it
 * is never mistaken for a key id (`key_…`), and no comma (see app.owners).
 */
export const USER_LABEL_PATTERN = '^[A-Za-z0-9.@+-]{1,100}$'

// ---- built-in roles -----------------------------------------------------------------------------

export const ROLES = ['admin', 'accountant', 'manager', 'cashier', 'credit_manager', 'sales_rep', 'compliance', 'auditor'] as const
export type Role = (typeof ROLES)[number]

export interface RoleDefinition {
  description: string
  permissions: readonly Permission[]
  ownCustomersOnly: boolean
}

const VIEW_DOCUMENTS: Permission[] = ['invoices.view', 'sales.view', 'payments.view', 'allocations.view', 'credit_notes.view', 'refunds.view', 'write_offs.view', 'adjustments.view', 'disputes.view']
const VIEW_ALL: Permission[] = PERMISSION_NAMES.filter((p) => p.endsWith('.view') && p !== 'customers.pii.view')

/** The built-in roles' defaults (API.md "Permissions and roles"). */
export const BUILT_IN_ROLES: Record<Role, RoleDefinition> = {
  admin: { description: 'Everything.', permissions: PERMISSION_NAMES, ownCustomersOnly: false },
  accountant: {
    description: 'Posts and corrects documents, closes periods, reconciles; no personal data.',
    permissions: [
      'customers.basic.view', 'customers.basic.edit', 'customers.create', 'customers.pii.edit', 'customers.balance.view',
      ...VIEW_DOCUMENTS, 'invoices.create', 'payments.create', 'allocations.create', 'credit_notes.create', 'refunds.create',
      'write_offs.create', 'adjustments.create', 'reversals.create', 'disputes.manage', 'reports.view', 'events.view',
      'ledger.view', 'periods.view', 'periods.manage', 'periods.close', 'periods.reopen',
      'reconciliation.view', 'reconciliation.run', 'webhooks.view', 'plugins.view', 'settings.view', 'notifications.view',
    ],
    ownCustomersOnly: false,
  },
  manager: {
    description: 'Runs the store: documents, sales, refunds, reports; approves four-eyes requests.',
    permissions: [
      'customers.basic.view', 'customers.basic.edit', 'customers.create', 'customers.pii.edit', 'customers.balance.view',
      ...VIEW_DOCUMENTS, 'invoices.create', 'sales.create', 'sales.cancel', 'payments.create', 'allocations.create',
      'credit_notes.create', 'refunds.create', 'adjustments.create', 'reversals.create', 'disputes.manage', 'reports.view', 'events.view',
      'ledger.view', 'periods.view', 'reconciliation.view', 'approvals.approve', 'settings.view', 'notifications.view', 'notifications.send',
    ],
    ownCustomersOnly: false,
  },
  cashier: {
    description: 'The till: sales, payments, walk-in customers; no balances or credit limits.',
    permissions: ['customers.basic.view', 'customers.create', 'customers.pii.edit', 'invoices.view', 'sales.view', 'sales.create', 'sales.cancel', 'payments.view', 'payments.create'],
    ownCustomersOnly: false,
  },
  credit_manager: {
    description: 'Credit limits, overrides, the credit policy and write-offs.',
    permissions: [
      'customers.basic.view', 'customers.basic.edit', 'customers.balance.view', 'customers.credit_limit.edit',
      ...VIEW_DOCUMENTS, 'invoices.create', 'sales.create', 'write_offs.create', 'credit.override', 'reports.view', 'events.view',
      'ledger.view', 'periods.view', 'reconciliation.view', 'credit_policy.edit', 'credit_limits.approve', 'settings.view', 'notifications.view', 'notifications.send',
    ],
    ownCustomersOnly: false,
  },
  sales_rep: {
    description: 'Its own customers only: their invoices and sales.',
    permissions: ['customers.basic.view', 'customers.basic.edit', 'customers.create', 'customers.pii.edit', 'invoices.view', 'invoices.create', 'sales.view', 'sales.create', 'payments.view'],
    ownCustomersOnly: true,
  },
  compliance: {
    description: 'Personal data, the audit log, exports and erasure; restores customers.',
    permissions: [...VIEW_ALL, 'audit.verify', 'customers.pii.view', 'customers.pii.edit', 'customers.restore', 'customers.export', 'customers.anonymize'],
    ownCustomersOnly: false,
  },
  auditor: { description: 'Reads everything but personal data; verifies the audit chain; changes nothing.', permissions: [...VIEW_ALL, 'audit.verify'], ownCustomersOnly: false },
}

export function isBuiltInRole(name: string): name is Role {
  return (ROLES as readonly string[]).includes(name)
}

// ---- fields ---------------------------------------------------------------------------------------

/** A guarded field: the permission that shows it, and the one that writes it (none: read-only). */
export interface FieldRule {
  view: Permission
  edit?: Permission
}

/**
 * The guarded fields of each object type (`object` of its API representation). Fields not listed
 * go with the object itself (its route's permission). Audit snapshots and event payloads of a type
 * follow the same rules.
 */
export const FIELD_RULES = {
  customer: {
    email: { view: 'customers.pii.view', edit: 'customers.pii.edit' },
    phone: { view: 'customers.pii.view', edit: 'customers.pii.edit' },
    tax_id: { view: 'customers.pii.view', edit: 'customers.pii.edit' },
    billing_address: { view: 'customers.pii.view', edit: 'customers.pii.edit' },
    shipping_address: { view: 'customers.pii.view', edit: 'customers.pii.edit' },
    balance: { view: 'customers.balance.view' },
    credit_limit: { view: 'customers.balance.view', edit: 'customers.credit_limit.edit' },
    temporary_credit_limit: { view: 'customers.balance.view', edit: 'customers.credit_limit.edit' },
    temporary_credit_limit_expires_on: { view: 'customers.balance.view', edit: 'customers.credit_limit.edit' },
    assigned_to: { view: 'customers.basic.view', edit: 'customers.basic.edit' },
    // Credit policy (API.md "Credit policy"): what the policy sees is credit data; a hold, a grace
    // period and a tier are set by who sets limits; a suspension override by who may override.
    tier: { view: 'customers.basic.view', edit: 'customers.credit_limit.edit' },
    grace_period_days: { view: 'customers.balance.view', edit: 'customers.credit_limit.edit' },
    credit_hold: { view: 'customers.balance.view', edit: 'customers.credit_limit.edit' },
    suspension_override_until: { view: 'customers.balance.view', edit: 'credit.override' },
    preferences: { view: 'customers.basic.view', edit: 'customers.basic.edit' },
  },
  // A notification's recipient is the customer's e-mail address or phone number.
  notification: {
    to: { view: 'customers.pii.view' },
  },
} as const satisfies Record<string, Record<string, FieldRule>>

export type GuardedObject = keyof typeof FIELD_RULES
/** CASL subjects: the guarded object types, by their type name. */
const SUBJECTS: Record<GuardedObject, string> = { customer: 'Customer', notification: 'Notification' }

// ---- abilities ----------------------------------------------------------------------------------

/**
 * Actions: a permission name (route level, on 'all'), or `view` / `edit` on a guarded object's
 * fields (field level).
 */
export type AppAbility = MongoAbility<[Permission | 'view' | 'edit', string]>

/** What a key may do, resolved once per key (and cached with it). */
export interface Access {
  /** The role's name: a built-in, or a custom role's id (`role_…`). */
  role: string
  permissions: ReadonlySet<Permission>
  ability: AppAbility
  /**
   * The owners whose customers the key is limited to (its key id and its `user` label), or null for
   * a key that sees every customer of the tenant.
   */
  owners: readonly string[] | null
}

export function buildAbility(permissions: Iterable<Permission>): AppAbility {
  const { can, build } = new AbilityBuilder<AppAbility>(createMongoAbility)
  const held = new Set(permissions)
  for (const p of held) can(p, 'all')
  for (const [object, rules] of Object.entries(FIELD_RULES) as [GuardedObject, Record<string, FieldRule>][]) {
    const viewable = Object.entries(rules).filter(([, r]) => held.has(r.view)).map(([f]) => f)
    const editable = Object.entries(rules).filter(([, r]) => r.edit && held.has(r.edit)).map(([f]) => f)
    if (viewable.length) can('view', SUBJECTS[object], viewable)
    if (editable.length) can('edit', SUBJECTS[object], editable)
  }
  return build()
}

/** An access from a role's definition, for a key (`owners` = its key id and user label when the role is limited). */
export function accessFor(role: string, def: Pick<RoleDefinition, 'permissions' | 'ownCustomersOnly'>, owners: readonly string[]): Access {
  return { role, permissions: new Set(def.permissions), ability: buildAbility(def.permissions), owners: def.ownCustomersOnly ? owners : null }
}

const builtInCache = new Map<Role, Access>()

/** The unlimited access of a built-in role (workers and the platform act as `admin`). */
export function builtInAccess(role: Role): Access {
  let a = builtInCache.get(role)
  if (!a) builtInCache.set(role, (a = accessFor(role, { ...BUILT_IN_ROLES[role], ownCustomersOnly: false }, [])))
  return a
}

export function can(access: Pick<Access, 'permissions'>, permission: Permission): boolean {
  return access.permissions.has(permission)
}

/** The guarded fields of `object` that `access` may not view (empty: the object is shown whole). */
export function hiddenFields(access: Pick<Access, 'ability'>, object: GuardedObject): string[] {
  const guarded = Object.keys(FIELD_RULES[object])
  const visible = new Set(permittedFieldsOf(access.ability, 'view', SUBJECTS[object], { fieldsFrom: (rule) => (rule.fields ? [rule.fields].flat() : guarded) }))
  return guarded.filter((f) => !visible.has(f))
}

/** The first of `fields` that `access` may not write on `object`, or null. */
export function firstUneditableField(access: Pick<Access, 'ability'>, object: GuardedObject, fields: Iterable<string>): string | null {
  const rules = FIELD_RULES[object] as Record<string, FieldRule>
  for (const f of fields) {
    if (Object.hasOwn(rules, f) && !access.ability.can('edit', SUBJECTS[object], f)) return f
  }
  return null
}

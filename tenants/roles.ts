import type { Trx } from '../core/kernel/db/knex'
import { afterCommit } from '../core/kernel/db/tenant'
import { AppError, notFound } from '../core/kernel/errors'
import { newId } from '../core/kernel/ids'
import { recordAudit } from '../core/audit/service'
import type { RequestContext } from '../core/kernel/context'
import { BUILT_IN_ROLES, isBuiltInRole, isPermission, PERMISSIONS, PERMISSION_NAMES, ROLES, type Permission } from '../core/kernel/permissions'
import { evictTenantKeys } from './key-cache'

/**
 * Roles: the eight built-ins (core/kernel/permissions.ts) and a tenant's custom roles (the `roles`
 * table). A key names its role: a built-in by name, a custom role by id. Changing or deleting a
 * custom role takes effect for its keys at once in this process (the key cache is evicted) and
 * within the cache's few seconds elsewhere.
 */

export interface RoleRow {
  tenant_id: string
  id: string
  name: string
  description: string | null
  permissions: string[]
  own_customers_only: boolean
  version: number
  created_at: Date
  updated_at: Date
}

export interface RoleInput {
  name: string
  description?: string | null
  permissions: string[]
  own_customers_only?: boolean
}

export function permissionsView() {
  return {
    object: 'list' as const,
    data: PERMISSION_NAMES.map((name) => ({ object: 'permission' as const, name, description: PERMISSIONS[name].description, scope: PERMISSIONS[name].scope })),
    has_more: false,
  }
}

function builtInView(name: (typeof ROLES)[number]) {
  const def = BUILT_IN_ROLES[name]
  return {
    id: name,
    object: 'role' as const,
    name,
    built_in: true,
    description: def.description,
    permissions: [...def.permissions],
    own_customers_only: def.ownCustomersOnly,
    version: null,
    created: null,
    updated: null,
  }
}

export function roleView(r: RoleRow) {
  return {
    id: r.id,
    object: 'role' as const,
    name: r.name,
    built_in: false,
    description: r.description,
    permissions: r.permissions,
    own_customers_only: r.own_customers_only,
    version: r.version,
    created: r.created_at.toISOString(),
    updated: r.updated_at.toISOString(),
  }
}

/**
 * A role's permissions must exist, and a role limited to its own customers cannot hold a permission
 * that acts on the whole tenant (the ledger, periods, settings: rows that belong to no customer).
 */
function checkPermissions(permissions: string[], ownCustomersOnly: boolean): Permission[] {
  const unique = [...new Set(permissions)]
  unique.forEach((p, i) => {
    if (!isPermission(p)) throw new AppError('validation_failed', `Unknown permission '${p}' (GET /v1/permissions lists them).`, { param: `permissions.${i}` })
    if (ownCustomersOnly && PERMISSIONS[p].scope === 'tenant') {
      throw new AppError('validation_failed', `'${p}' acts on the whole tenant; a role limited to its own customers cannot hold it.`, { param: `permissions.${i}` })
    }
  })
  return unique as Permission[]
}

function checkName(name: string): void {
  if (isBuiltInRole(name)) throw new AppError('duplicate_role_name', `'${name}' is a built-in role.`, { param: 'name' })
}

async function guardName<T>(write: Promise<T>): Promise<T> {
  try {
    return await write
  } catch (err) {
    const e = err as { code?: string; constraint?: string }
    if (e.code === '23505' && e.constraint === 'roles_tenant_id_name_key') throw new AppError('duplicate_role_name', undefined, { param: 'name' })
    throw err
  }
}

export async function listRoles(trx: Trx, ctx: RequestContext) {
  const custom: RoleRow[] = await trx('roles').where({ tenant_id: ctx.tenantId }).orderBy('created_at').orderBy('id')
  return { object: 'list' as const, data: [...ROLES.map(builtInView), ...custom.map(roleView)], has_more: false }
}

async function findRole(trx: Trx, ctx: RequestContext, id: string, forUpdate = false): Promise<RoleRow> {
  const q = trx('roles').where({ tenant_id: ctx.tenantId, id })
  if (forUpdate) q.forUpdate()
  const row: RoleRow | undefined = await q.first()
  if (!row) throw notFound('role', id, 'id')
  return row
}

export async function getRole(trx: Trx, ctx: RequestContext, id: string) {
  if (isBuiltInRole(id)) return builtInView(id)
  return roleView(await findRole(trx, ctx, id))
}

export async function createRole(trx: Trx, ctx: RequestContext, input: RoleInput) {
  checkName(input.name)
  const own = input.own_customers_only ?? false
  const permissions = checkPermissions(input.permissions, own)
  const [row]: RoleRow[] = await guardName(
    trx('roles')
      .insert({ tenant_id: ctx.tenantId, id: newId('role'), name: input.name, description: input.description ?? null, permissions, own_customers_only: own, created_by: ctx.keyId ?? ctx.role })
      .returning('*'),
  )
  const view = roleView(row)
  await recordAudit(trx, ctx, { action: 'role.created', entity_type: 'role', entity_id: row.id, after: view })
  return view
}

export async function updateRole(trx: Trx, ctx: RequestContext, id: string, input: Partial<RoleInput>) {
  if (isBuiltInRole(id)) throw new AppError('invalid_state', 'Built-in roles cannot be changed; create a custom role instead.', { param: 'id' })
  const before = await findRole(trx, ctx, id, true)
  if (input.name !== undefined) checkName(input.name)
  const own = input.own_customers_only ?? before.own_customers_only
  const permissions = checkPermissions(input.permissions ?? before.permissions, own)
  const [row]: RoleRow[] = await guardName(
    trx('roles')
      .where({ tenant_id: ctx.tenantId, id })
      .update({
        name: input.name ?? before.name,
        description: input.description !== undefined ? input.description : before.description,
        permissions,
        own_customers_only: own,
        version: trx.raw('version + 1'),
        updated_at: trx.fn.now(),
      })
      .returning('*'),
  )
  afterCommit(trx, () => evictTenantKeys(ctx.tenantId))
  const view = roleView(row)
  await recordAudit(trx, ctx, { action: 'role.updated', entity_type: 'role', entity_id: id, before: roleView(before), after: view })
  return view
}

/** Deletes a custom role no active key holds (409 `role_in_use` otherwise). */
export async function deleteRole(trx: Trx, ctx: RequestContext, id: string) {
  if (isBuiltInRole(id)) throw new AppError('invalid_state', 'Built-in roles cannot be deleted.', { param: 'id' })
  const before = await findRole(trx, ctx, id, true)
  const holders = await trx('api_keys').where({ tenant_id: ctx.tenantId, role: id }).whereNull('revoked_at').count<{ n: string }[]>('* as n')
  const n = Number(holders[0].n)
  if (n > 0) throw new AppError('role_in_use', `${n} active API key(s) hold this role; revoke them or move them to another role first.`, { details: { keys: n } })
  await trx('roles').where({ tenant_id: ctx.tenantId, id }).delete()
  afterCommit(trx, () => evictTenantKeys(ctx.tenantId))
  await recordAudit(trx, ctx, { action: 'role.deleted', entity_type: 'role', entity_id: id, before: roleView(before) })
  return { ...roleView(before), deleted: true }
}

/**
 * The role a new key names: a built-in by name, a custom role by id or by name (stored by id, so
 * renaming the role keeps its keys). 400 with `param: role` when there is none.
 */
export async function resolveRole(trx: Trx, ctx: RequestContext, role: string): Promise<string> {
  if (isBuiltInRole(role)) return role
  const row = await trx('roles')
    .where({ tenant_id: ctx.tenantId })
    .where((w) => w.where({ id: role }).orWhere({ name: role }))
    .first('id')
  if (!row) throw new AppError('validation_failed', `Unknown role '${role}': a built-in role (${ROLES.join(', ')}) or a custom role's id or name.`, { param: 'role' })
  return row.id
}

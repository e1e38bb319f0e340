import type { FastifyInstance } from 'fastify'
import { FIELD_RULES, hiddenFields, type Access, type GuardedObject } from '../kernel/permissions'

/**
 * Field-level view rights on every response: a guarded field (FIELD_RULES) the caller may not view
 * is removed, not nulled, wherever its object appears: the object itself, lists, events read back
 * (their `data.object`), idempotent replays stored for another key, and the before/after snapshots
 * of audit entries about that object type. It runs on the payload object before serialization, so
 * no route can forget it; a caller who may view everything (most keys) costs nothing.
 *
 * Other formats (CSV, PDF) do not pass here: their builders take the caller's access and leave the
 * hidden fields out themselves.
 */
type Hidden = Partial<Record<GuardedObject, readonly string[]>>

/** What `access` may not view, per guarded object type; null when it may view everything. */
export function hiddenFieldMap(access: Access): Hidden | null {
  let hidden: Hidden | null = null
  for (const object of Object.keys(FIELD_RULES) as GuardedObject[]) {
    const fields = hiddenFields(access, object)
    if (fields.length) (hidden ??= {})[object] = fields
  }
  return hidden
}

const cache = new WeakMap<Access, Hidden | null>()
function hiddenFor(access: Access): Hidden | null {
  if (!cache.has(access)) cache.set(access, hiddenFieldMap(access))
  return cache.get(access)!
}

function strip(value: Record<string, unknown>, fields: readonly string[]): void {
  for (const f of fields) delete value[f]
}

/** Removes the hidden fields from `value` in place, at any depth. */
export function removeHiddenFields(value: unknown, hidden: Hidden, depth = 0): void {
  if (depth > 64 || value === null || typeof value !== 'object') return
  if (Array.isArray(value)) {
    for (const v of value) removeHiddenFields(v, hidden, depth + 1)
    return
  }
  const obj = value as Record<string, unknown>
  const type = obj.object
  if (typeof type === 'string' && Object.hasOwn(hidden, type)) strip(obj, hidden[type as GuardedObject]!)
  // Audit snapshots are the entity's fields, partial or whole, without `object` of their own.
  const entity = obj.object === 'audit_log_entry' ? obj.entity_type : undefined
  if (typeof entity === 'string' && Object.hasOwn(hidden, entity)) {
    for (const side of ['before', 'after'] as const) {
      const snap = obj[side]
      if (snap && typeof snap === 'object' && !Array.isArray(snap)) strip(snap as Record<string, unknown>, hidden[entity as GuardedObject]!)
    }
  }
  for (const v of Object.values(obj)) if (v !== null && typeof v === 'object') removeHiddenFields(v, hidden, depth + 1)
}

export function registerFieldRules(app: FastifyInstance): void {
  app.addHook('preSerialization', async (req, _reply, payload) => {
    const hidden = req.ctx?.access ? hiddenFor(req.ctx.access) : null
    if (hidden && payload && typeof payload === 'object') removeHiddenFields(payload, hidden)
    return payload
  })
}

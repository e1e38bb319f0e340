import type { FastifyInstance } from 'fastify'
import { inTenant } from '../http/tx'
import { getSettings, updateSettings } from '../../tenants/settings'
import { updateSettingsBody, type UpdateSettingsInput } from './schemas'
import { ref } from '../http/components'

const errors = { '4xx': { $ref: 'Error#' } }

export async function settingsRoutes(app: FastifyInstance): Promise<void> {
  app.get(
    '/settings',
    { schema: { operationId: 'getSettings', tags: ['settings'], summary: "Read the tenant's settings", response: { 200: ref('Settings'), ...errors } } },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => getSettings(trx, ctx)),
  )

  app.patch<{ Body: UpdateSettingsInput }>(
    '/settings',
    {
      schema: {
        operationId: 'updateSettings',
        tags: ['settings'],
        summary: "Change the tenant's settings",
        description:
          'Changes the given keys only (`approvals` is merged key by key; a null threshold turns that approval off). Audited with before and after; emits `settings.updated`.',
        body: updateSettingsBody,
        response: { 200: ref('Settings'), ...errors },
      },
    },
    async (req, reply) => inTenant(req, reply, (trx, ctx) => updateSettings(trx, ctx, req.body)),
  )
}

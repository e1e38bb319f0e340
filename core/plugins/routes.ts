import type { FastifyInstance } from 'fastify'

export async function pluginRoutes(_app: FastifyInstance): Promise<void> {}

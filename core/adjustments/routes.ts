import type { FastifyInstance } from 'fastify'

export async function adjustmentRoutes(_app: FastifyInstance): Promise<void> {}

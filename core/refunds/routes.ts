import type { FastifyInstance } from 'fastify'

export async function refundRoutes(_app: FastifyInstance): Promise<void> {}

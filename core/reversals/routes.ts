import type { FastifyInstance } from 'fastify'

export async function reversalRoutes(_app: FastifyInstance): Promise<void> {}

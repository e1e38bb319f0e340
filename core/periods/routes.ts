import type { FastifyInstance } from 'fastify'

export async function periodRoutes(_app: FastifyInstance): Promise<void> {}

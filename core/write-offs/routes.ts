import type { FastifyInstance } from 'fastify'

export async function writeOffRoutes(_app: FastifyInstance): Promise<void> {}

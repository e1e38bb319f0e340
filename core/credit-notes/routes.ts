import type { FastifyInstance } from 'fastify'

export async function creditNoteRoutes(_app: FastifyInstance): Promise<void> {}

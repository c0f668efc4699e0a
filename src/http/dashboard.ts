// The dashboard (owned by the dashboard work: this file and web/). Called by the app after the API is registered.
import type {FastifyInstance} from 'fastify'

export interface DashboardOptions {
  /** Where the JSON API lives, e.g. /api/v1. */
  apiPrefix: string
  /**
   * True when the server has a token file: every API request then needs `Authorization: Bearer <token>` (EventSource
   * cannot send headers: read the event streams with fetch() and a ReadableStream).
   */
  tokenRequired: boolean
  version: string
}

export async function registerDashboard(_app: FastifyInstance, _o: DashboardOptions): Promise<void> {}

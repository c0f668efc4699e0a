// GET /servers: the live servers and the workflows each holds (the `server list --json` document).
import type {FastifyInstance} from 'fastify'
import {serverListDocument} from '../server/registry.js'
import type {AppContext} from './app.js'

export function registerServers(api: FastifyInstance, ctx: AppContext): void {
  api.get('/servers', () => serverListDocument(ctx.store))
}

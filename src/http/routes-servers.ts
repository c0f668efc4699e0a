// GET /servers: the live servers and the workflows each holds (the `server list --json` document).
import type {FastifyInstance} from 'fastify'
import {liveServers} from '../server/registry.js'
import type {AppContext} from './app.js'

export function registerServers(api: FastifyInstance, ctx: AppContext): void {
  api.get('/servers', async () => ({
    format_version: '1',
    topology: ctx.store.url,
    servers: await liveServers(ctx.store),
  }))
}

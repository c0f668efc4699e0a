// The HTTP side of `shardform server --listen`: the JSON API under /api/v1/, the serving-map and workflow event
// streams, /metrics and the dashboard, all read from the same topology the CLI reads.
import Fastify, {type FastifyError, type FastifyInstance} from 'fastify'
import type {CommandHints} from '../engine/workflow.js'
import {errorMessage} from '../errors.js'
import type {Plan} from '../plan/types.js'
import type {TopoStore} from '../topo/store.js'
import {installAuth} from './auth.js'
import {registerDashboard} from './dashboard.js'
import {errorBody} from './error-body.js'
import {registerKeyspaces} from './routes-keyspaces.js'
import {registerMetrics} from './metrics.js'
import {registerServers} from './routes-servers.js'
import {registerWorkflows} from './routes-workflows.js'
import {ServingHub} from './serving-hub.js'
import type {TokenSet} from './tokens.js'

export const API_PREFIX = '/api/v1'

export interface HttpOptions {
  store: TopoStore
  /** Named bearer tokens; undefined = no token file (loopback only). */
  tokens?: TokenSet
  version: string
  /** The commands printed in hints repeat --topo. */
  hints?: CommandHints
  /** The plan as text, the way `plan` prints it (the CLI's view, wired in by the composition root). */
  planText?: (plan: Plan) => string
  /** Errors worth a line in the server's log (a request that failed with 5xx). */
  log?: (message: string) => void
}

export interface HttpApp {
  app: FastifyInstance
  /** Stop the event streams and the server. */
  close(): Promise<void>
}

export async function buildApp(o: HttpOptions): Promise<HttpApp> {
  // Bodies are checked as sent: no type coercion, no silently dropped properties.
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    ajv: {customOptions: {coerceTypes: false, removeAdditional: false}},
  })
  const hub = new ServingHub(o.store)
  const streams = new Set<() => void>()
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const {status, body} = errorBody(err)
    if (status >= 500) o.log?.(`HTTP ${_req.method} ${_req.url.split('?')[0]} failed: ${errorMessage(err)}`)
    void reply.code(status).type('application/json; charset=utf-8').send(body)
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({
      error: {
        code: 'not_found',
        message: `no route ${req.method} ${req.url.split('?')[0]}`,
        hint: `See ${API_PREFIX}/ routes in the README.`,
      },
    })
  })
  installAuth(app, o.tokens)
  const ctx = {...o, hub, streams}
  await app.register(
    async (api) => {
      registerKeyspaces(api, ctx)
      registerWorkflows(api, ctx)
      registerServers(api, ctx)
    },
    {prefix: API_PREFIX},
  )
  registerMetrics(app, o)
  await registerDashboard(app, {apiPrefix: API_PREFIX, tokenRequired: Boolean(o.tokens), version: o.version})
  // Before the server waits for its connections to end: the event streams would never end by themselves.
  app.addHook('preClose', async () => {
    for (const s of [...streams]) s()
    await hub.close()
  })
  return {app, close: () => app.close()}
}

export type AppContext = HttpOptions & {hub: ServingHub; streams: Set<() => void>}

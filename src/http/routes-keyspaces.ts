// GET /keyspaces, /keyspaces/:keyspace/serving (+ /events: the serving map as server-sent events), /keyspaces/:keyspace/history.
import type {FastifyInstance} from 'fastify'
import {collectHistory} from '../engine/status.js'
import {listKeyspaces} from '../topo/describe.js'
import {readKeyspaceRecords} from '../topo/keyspace-records.js'
import type {AppContext} from './app.js'
import {errorBody} from './error-body.js'
import {HttpError} from './errors.js'
import {servingMap, type ServingMap} from './serving.js'
import {openEventStream} from './sse.js'

type KsParams = {Params: {keyspace: string}}

export function registerKeyspaces(api: FastifyInstance, ctx: AppContext): void {
  const {store} = ctx
  const read = async (keyspace: string): Promise<ServingMap> => {
    if (badName(keyspace)) throw noKeyspace(keyspace, store.url)
    const r = await readKeyspaceRecords(store, keyspace)
    if (!r) throw noKeyspace(keyspace, store.url)
    return servingMap(r)
  }

  api.get('/keyspaces', async () => {
    const names = await listKeyspaces(store)
    const keyspaces = (await Promise.all(names.map((n) => readKeyspaceRecords(store, n))))
      .filter((r) => r !== undefined)
      .map((r) => servingMap(r))
    return {format_version: '1', topology: store.url, keyspaces}
  })

  api.get<KsParams>('/keyspaces/:keyspace/serving', (req) => read(req.params.keyspace))

  api.get<KsParams>('/keyspaces/:keyspace/serving/events', async (req, reply) => {
    const {keyspace} = req.params
    // Refuse an unknown keyspace with a plain 404 before the stream starts.
    await read(keyspace)
    const out = openEventStream(req, reply, ctx.streams)
    let stop: (() => void) | undefined
    try {
      stop = await ctx.hub.follow(keyspace, (m, generation) => out.send('serving', m, generation))
    } catch (e) {
      out.send('error', errorBody(e).body.error)
      return out.close()
    }
    if (!stop) {
      out.send('gone', {keyspace, message: `keyspace ${keyspace} no longer exists`})
      out.close()
      return
    }
    void out.closed.then(stop)
  })

  api.get<KsParams>('/keyspaces/:keyspace/history', async (req) => {
    const {keyspace} = req.params
    await read(keyspace)
    return {keyspace, events: await collectHistory(store, keyspace)}
  })
}

/** Not something a topology path can hold: answer 404 rather than let the store refuse the path. */
function badName(name: string): boolean {
  return !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name)
}

function noKeyspace(keyspace: string, url: string): HttpError {
  return new HttpError(404, 'unknown_keyspace', `keyspace ${keyspace} does not exist in ${url}.`, {
    hint: 'GET /api/v1/keyspaces lists the keyspaces.',
  })
}

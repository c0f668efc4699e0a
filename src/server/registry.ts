// The registry of live servers: each holds servers/<id>/Server under a lease while it runs. What a server holds is
// read from the keyspace locks it took (its claims), so the registry and the claims can never disagree.
import {hostname} from 'node:os'
import {holderGone} from '../topo/lease-lock.js'
import {claimLive, parseItemPath} from '../engine/work-items.js'
import {taskClaims} from '../engine/task-items.js'
import {keyspacesPrefix, serverPath, serversPrefix, workflowsPrefix} from '../topo/paths.js'
import type {LockRecord} from '../topo/records.js'
import {isTopoError, type LockHandle, type TopoReader, type TopoStore} from '../topo/store.js'
import {ServerError} from './errors.js'
import {versionSkew} from './version-skew.js'

/** What a server stores under servers/<id>/Server (beside the lock fields who, hostname, pid, …). */
export interface ServerRecord extends LockRecord {
  serverId: string
  version: string
  startedAt: string
  /** The kinds of work item it claims (absent: a server older than work items, which claims none). */
  workItems?: string[]
  /** File backend only: epoch ms the holder's heartbeat renews. */
  expires?: number
}

/** One live server and the workflows it holds (its claims: the keyspace locks it took). */
export interface ServerInfo {
  id: string
  host: string
  pid: number | null
  version: string
  startedAt: string
  workflows: {keyspace: string; lock: string; operation: string; since: string}[]
  /** The kinds of work item it claims ('stream'); fair share over items counts only servers that claim them. */
  workItems: string[]
  /** The streams it runs as work items (its item claims). */
  streams: {workflow: string; stream: string; since: string}[]
  /** The clone and diff tasks it runs as work items (its task claims). */
  tasks: {workflow: string; task: string; since: string}[]
}

/** A record whose holder lives: not expired (file backend), not a dead process on this host. */
export function isLive(v: Pick<LockRecord, 'hostname' | 'pid' | 'pidStart'> & {expires?: unknown}, now = Date.now()) {
  if (typeof v.expires === 'number' && v.expires < now) return false
  return !holderGone(v as LockRecord)
}

/** The server ids that hold each live keyspace lock, from `keyspaces/<ks>/lock` entries. */
export function claimsOf(
  locks: {path: string; value: LockRecord & {expires?: number}}[],
  now = Date.now(),
): Map<string, ServerInfo['workflows']> {
  const out = new Map<string, ServerInfo['workflows']>()
  for (const e of locks) {
    const m = /^keyspaces\/([^/]+)\/lock$/.exec(e.path)
    if (!m || !e.value?.server || !isLive(e.value, now)) continue
    const list = out.get(e.value.server) ?? []
    list.push({keyspace: m[1]!, lock: e.value.id, operation: e.value.operation, since: e.value.created})
    out.set(e.value.server, list)
  }
  return out
}

/** The server ids that hold each live stream item claim, from `workflows/<id>/items/<key>/Claim` entries. */
export function itemClaimsOf(
  entries: {path: string; value: unknown}[],
  now = Date.now(),
): Map<string, ServerInfo['streams']> {
  const out = new Map<string, ServerInfo['streams']>()
  for (const e of entries) {
    const p = parseItemPath(e.path)
    const v = e.value as (LockRecord & {stream?: string; expires?: number}) | undefined
    if (p?.kind !== 'Claim' || !v?.server || !claimLive(v, now)) continue
    const list = out.get(v.server) ?? []
    list.push({workflow: p.workflow, stream: v.stream ?? p.key, since: v.created})
    out.set(v.server, list)
  }
  return out
}

/** The server ids that hold each live task claim, from `workflows/<id>/tasks/<task>/Claim` entries. */
function taskClaimsOf(entries: {path: string; value: unknown}[]): Map<string, ServerInfo['tasks']> {
  const out = new Map<string, ServerInfo['tasks']>()
  for (const [k, v] of taskClaims(entries)) {
    if (!v.server) continue
    const i = k.indexOf('/')
    const list = out.get(v.server) ?? []
    list.push({workflow: k.slice(0, i), task: k.slice(i + 1), since: v.created})
    out.set(v.server, list)
  }
  return out
}

/** The live servers, sorted by id, with what each holds (`streams: false`: without reading the stream claims). */
export async function liveServers(store: TopoReader, opts: {streams?: boolean} = {}): Promise<ServerInfo[]> {
  const [servers, keyspaces, workflows] = await Promise.all([
    liveRecords(store),
    store.list<LockRecord & {expires?: number}>(keyspacesPrefix()),
    opts.streams === false ? [] : store.list<unknown>(workflowsPrefix()),
  ])
  const claims = claimsOf(keyspaces.filter((e) => e.path.endsWith('/lock')))
  const items = itemClaimsOf(workflows)
  const tasks = taskClaimsOf(workflows)
  return servers
    .map((v) => serverInfo(v, claims.get(v.serverId) ?? [], items.get(v.serverId) ?? [], tasks.get(v.serverId) ?? []))
    .sort((a, b) => a.id.localeCompare(b.id))
}

/** The `server list --json` document (also the HTTP API's /servers). */
export async function serverListDocument(
  store: TopoReader,
): Promise<{format_version: '1'; topology: string; servers: ServerInfo[]; version_skew?: string}> {
  const servers = await liveServers(store)
  const skew = versionSkew(servers)
  return {format_version: '1', topology: store.url, servers, ...(skew ? {version_skew: skew} : {})}
}

/** The records of the live servers (no claims: that needs every keyspace record). */
async function liveRecords(store: TopoReader): Promise<ServerRecord[]> {
  const now = Date.now()
  return (await store.list<ServerRecord>(serversPrefix()))
    .filter(
      (e) => e.path.endsWith('/Server') && e.value && typeof e.value.serverId === 'string' && isLive(e.value, now),
    )
    .map((e) => e.value)
}

export function serverInfo(
  v: ServerRecord,
  workflows: ServerInfo['workflows'],
  streams: ServerInfo['streams'] = [],
  tasks: ServerInfo['tasks'] = [],
): ServerInfo {
  return {
    id: v.serverId,
    host: v.hostname ?? '?',
    pid: v.pid ?? null,
    version: v.version,
    startedAt: v.startedAt,
    workflows,
    workItems: Array.isArray(v.workItems) ? v.workItems : [],
    streams,
    tasks,
  }
}

/** Is at least one server live (then apply hands its workflow to the servers)? */
export async function anyServerLive(store: TopoReader): Promise<boolean> {
  return (await liveRecords(store)).length > 0
}

/** A server id: what a topology path segment may hold, readable in logs. */
export function checkServerId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id)) {
    throw new ServerError(
      'bad_server_id',
      `"${id}" is not a valid server id: use 1-63 letters, digits, '.', '_' or '-' (e.g. --id ${defaultServerId()}).`,
    )
  }
  return id
}

export function defaultServerId(): string {
  return (
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 63) || 'server'
  )
}

/** Register: hold servers/<id>/Server under a lease. A live server with that id → ServerError naming it. */
export async function register(
  store: TopoStore,
  r: {id: string; version: string; ttlSeconds: number},
): Promise<LockHandle> {
  const path = serverPath(r.id)
  try {
    return await store.hold(path, {
      operation: `shardform server ${r.id}`,
      ttlSeconds: r.ttlSeconds,
      data: {serverId: r.id, version: r.version, startedAt: new Date().toISOString(), workItems: ['stream', 'task']},
    })
  } catch (e) {
    if (!isTopoError(e, 'lock_held')) throw e
    const cur = await store.get<ServerRecord>(path).catch(() => undefined)
    const v = cur?.value
    const holder = v ? `${v.hostname ?? '?'} pid ${v.pid ?? '?'} (started ${v.startedAt})` : 'another process'
    throw new ServerError(
      'server_id_live',
      `a server with id ${r.id} is already running on ${holder} against ${store.url}; nothing started.`,
      {hint: `Stop that server first, or start this one with another --id (see shardform server list).`},
    )
  }
}

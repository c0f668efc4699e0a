// Streams as work items: where their records live and what they hold (written by the data plane's stream manager and
// by the servers that run them, read here by `status` and `server list`). See phases/streams/items.ts.
import {holderGone} from '../topo/lease-lock.js'
import type {LockRecord} from '../topo/records.js'
import type {TopoReader} from '../topo/store.js'

export interface StreamItem {
  workflow: string
  keyspace: string
  /** The stream's id (keyspace/source->destination), as in `_shardform.streams`. */
  stream: string
  group: number
  source: string
  destination: string
  reverse: boolean
  /** running: any live server may run it; driver: the workflow's driver wants it back. */
  desired: 'running' | 'driver'
  updatedAt: string
}

/** What a server stores in an item's Claim (beside the lease holder's fields). */
export interface ItemClaim {
  server: string
  stream: string
}

export interface ItemStatusRecord<S = {id: string}> {
  updated_at: string
  server: string
  streams: S[]
}

export const itemsPrefix = (workflow: string) => `workflows/${workflow}/items/`
export const itemKey = (source: string, destination: string) => `${source}->${destination}`
export const itemPath = (workflow: string, key: string) => `${itemsPrefix(workflow)}${key}/Item`
export const itemClaimPath = (workflow: string, key: string) => `${itemsPrefix(workflow)}${key}/Claim`
export const itemStatusPath = (workflow: string, key: string) => `${itemsPrefix(workflow)}${key}/Status`

/** The workflow, item key and record kind of a path below workflows/, when it is an item's. */
export function parseItemPath(
  path: string,
): {workflow: string; key: string; kind: 'Item' | 'Claim' | 'Status'} | undefined {
  const m = /^workflows\/([^/]+)\/items\/([^/]+)\/(Item|Claim|Status)$/.exec(path)
  return m ? {workflow: m[1]!, key: m[2]!, kind: m[3] as 'Item' | 'Claim' | 'Status'} : undefined
}

/** A claim whose holder lives: not expired (file backend), not a dead process on this host. */
export function claimLive(v: LockRecord & {expires?: unknown}, now = Date.now()): boolean {
  if (typeof v.expires === 'number' && v.expires < now) return false
  return !holderGone(v)
}

/** The live claims of a workflow's items (key → claim), and the Status records their holders published. */
export async function readItems(
  store: TopoReader,
  workflow: string,
): Promise<{claims: Map<string, LockRecord & {server?: string}>; statuses: Map<string, ItemStatusRecord>}> {
  const claims = new Map<string, LockRecord & {server?: string}>()
  const statuses = new Map<string, ItemStatusRecord>()
  const now = Date.now()
  for (const e of await store.list<unknown>(itemsPrefix(workflow))) {
    const p = parseItemPath(e.path)
    if (!p || !e.value || typeof e.value !== 'object') continue
    if (p.kind === 'Claim' && claimLive(e.value as LockRecord, now)) claims.set(p.key, e.value as LockRecord)
    if (p.kind === 'Status') statuses.set(p.key, e.value as ItemStatusRecord)
  }
  return {claims, statuses}
}

/**
 * The driver's own streams, with those live servers run as items in place of (or beside) them: a stream's status
 * is taken from the server that holds its claim now.
 */
export async function mergeItemStreams<S extends {id: string; server?: string}>(
  store: TopoReader,
  workflow: string,
  driver: {updated_at: string; streams: S[]} | undefined,
): Promise<{updated_at: string; streams: S[]} | undefined> {
  const read = await readItems(store, workflow)
  const claims = read.claims
  const statuses = read.statuses as Map<string, ItemStatusRecord<S>>
  const byId = new Map((driver?.streams ?? []).map((s) => [s.id, s]))
  let updated = driver?.updated_at ?? ''
  for (const [key, claim] of claims) {
    const st = statuses.get(key)
    if (!st || st.server !== claim.server) continue
    for (const s of st.streams) byId.set(s.id, {...s, server: st.server})
    if (st.updated_at > updated) updated = st.updated_at
  }
  if (!byId.size) return driver
  const streams = [...byId.values()].sort((a, b) => a.id.localeCompare(b.id))
  return {updated_at: updated, streams}
}

// The keyspaces an apply has asked the servers to hand back (engine/hand-back.ts): whoever runs one stops that run at
// committed positions, and no server claims it while the request lives.
import {handBackPrefix} from '../topo/paths.js'
import type {LockRecord} from '../topo/records.js'
import type {TopoReader} from '../topo/store.js'
import {isLive} from './registry.js'

/** Keyspace → who asks for it (live requests only). */
export async function handBackRequests(store: TopoReader): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const e of await store.list<LockRecord & {expires?: number}>(handBackPrefix())) {
    const m = /^handback\/([^/]+)\/Wanted$/.exec(e.path)
    if (m && e.value && isLive(e.value)) out.set(m[1]!, e.value.who ?? 'an apply')
  }
  return out
}

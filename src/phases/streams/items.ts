// Streams as work items. While a workflow run by `shardform server` waits (at a gate, between phases), its driver hands
// each live stream out as an item any live server may claim and run; when a phase needs exact control of a stream
// (diff, cutover, stop), the driver asks for it back and runs it itself. Records, below workflows/<id>/items/<key>/:
//   Item   what to run (the driver writes it; `desired: driver` asks the server running it to hand it back)
//   Claim  held under a lease by the server running it (gone within the lease's TTL when that server dies)
//   Status the running stream's status, published by the server running it
// Fencing on the destination (fence.ts) stays the safety net: two appliers can never both commit.
import {setTimeout as sleep} from 'node:timers/promises'
import {
  claimLive,
  itemClaimPath,
  itemKey,
  itemPath,
  itemsPrefix,
  itemStatusPath,
  parseItemPath,
  type StreamItem,
} from '../../engine/work-items.js'
import type {LockRecord} from '../../topo/records.js'
import type {TopoReader, TopoStore} from '../../topo/store.js'

export {claimLive, itemClaimPath, itemKey, itemPath, itemsPrefix, itemStatusPath, parseItemPath, type StreamItem}

/** Write (or rewrite) an item with the desired state. */
export async function putItem(store: TopoStore, item: Omit<StreamItem, 'updatedAt'>): Promise<void> {
  const path = itemPath(item.workflow, itemKey(item.source, item.destination))
  const rec: StreamItem = {...item, updatedAt: new Date().toISOString()}
  for (;;) {
    const cur = await store.get<StreamItem>(path)
    if (cur?.value.desired === item.desired) return
    try {
      if (cur) await store.update(path, rec, cur.version)
      else await store.create(path, rec)
      return
    } catch {
      // Raced with another writer of the item: read it again.
    }
  }
}

/** Remove an item and its status (the stream is stopped for good, or the workflow finished). */
export async function removeItem(store: TopoStore, workflow: string, key: string): Promise<void> {
  for (const p of [itemPath(workflow, key), itemStatusPath(workflow, key)]) await store.delete(p).catch(() => undefined)
}

/** The keys of a workflow's items. */
export async function listItems(store: TopoReader, workflow: string): Promise<Map<string, StreamItem>> {
  const out = new Map<string, StreamItem>()
  for (const e of await store.list<StreamItem>(itemsPrefix(workflow))) {
    const p = parseItemPath(e.path)
    if (p?.kind === 'Item' && e.value) out.set(p.key, e.value)
  }
  return out
}

/**
 * Until no server claims the item: one that runs it sees `desired: driver` and hands it back at a committed position;
 * a dead one's claim goes with its lease. After `maxMs` the caller takes the stream anyway (fencing refuses the
 * other applier's next batch).
 */
export async function waitUnclaimed(
  store: TopoReader,
  workflow: string,
  key: string,
  maxMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const cur = await store.get<LockRecord & {expires?: number}>(itemClaimPath(workflow, key))
    if (!cur || !claimLive(cur.value)) return true
    if (Date.now() > deadline || signal?.aborted) return false
    await sleep(100, undefined, {signal}).catch(() => undefined)
  }
}

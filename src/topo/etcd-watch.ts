// etcd watches: a prefix watched from the revision just read (so nothing is missed), and one key watched for its
// deletion (the lock).
import type {Watcher} from 'etcd3'
import type {EtcdClient} from './etcd-client.js'
import type {Entry, TopoError, WatchEvent} from './store.js'

export async function watchPrefix<T>(
  c: EtcdClient,
  prefix: string,
  onEvent: (ev: WatchEvent<T>) => void,
  onError: ((err: TopoError) => void) | undefined,
  watchers: Set<() => Promise<void>>,
): Promise<() => void> {
  const key = c.key(prefix)
  const head = await c.call(() => c.client.kv.range({key, range_end: prefixEnd(key), count_only: true}), {
    read: true,
  })
  // Start right after the revision we just saw: nothing committed after this call returns can be missed.
  const w = c.client
    .watch()
    .prefix(key)
    .startRevision(String(BigInt(head.header.revision) + 1n))
    .watcher()
  let stopped = false
  const cancel = async () => {
    if (stopped) return
    stopped = true
    watchers.delete(cancel)
    await cancelWatcher(w)
  }
  const fail = (err: TopoError) => {
    if (stopped) return
    void cancel()
    onError?.(err)
  }
  w.on('put', (kv) => {
    if (stopped) return
    let entry: Entry<T>
    try {
      entry = c.entryOf<T>(kv)
    } catch (e) {
      return fail(e as TopoError)
    }
    onEvent({type: 'put', entry})
  })
  w.on('delete', (kv) => {
    if (!stopped) onEvent({type: 'delete', path: c.pathOf(kv.key)})
  })
  // etcd cancelled the watch (e.g. the revision was compacted away): events may be lost, so say so.
  w.on('error', (err) => fail(c.mapError(err)))
  watchers.add(cancel)
  try {
    await withTimeout(onceConnected(w), c.connectTimeoutMs)
  } catch (e) {
    await cancel()
    throw c.mapError(e)
  }
  return () => void cancel()
}

/** A watcher on one key from `fromRevision` on; the caller must cancel it. */
export function watchKey(c: EtcdClient, key: Buffer, fromRevision: string): Watcher {
  const w = c.client.watch().key(key).startRevision(fromRevision).watcher()
  w.on('error', () => undefined)
  return w
}

/** Resolve when `key` is deleted after `revision`, or after `ms`. */
export async function waitForDelete(c: EtcdClient, key: Buffer, revision: string, ms: number): Promise<void> {
  const w = watchKey(c, key, String(BigInt(revision) + 1n))
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms)
      const done = () => {
        clearTimeout(t)
        resolve()
      }
      w.on('delete', done)
      w.on('error', done)
    })
  } finally {
    void cancelWatcher(w)
  }
}

/** Cancel a watcher without waiting long for etcd to confirm (it may be down), and without holding the process. */
export async function cancelWatcher(w: Watcher): Promise<void> {
  await withTimeout(w.cancel(), 2_000, false).catch(() => undefined)
}

/** The first key after every key that starts with `key`. */
export function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key)
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++
      return end.subarray(0, i + 1)
    }
  }
  return Buffer.from([0])
}

function onceConnected(w: Watcher): Promise<void> {
  return new Promise((resolve, reject) => {
    w.once('connected', () => resolve())
    w.once('error', reject)
  })
}

function withTimeout<T>(p: Promise<T>, ms: number, keepAlive = true): Promise<T> {
  let t: NodeJS.Timeout
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
      if (!keepAlive) t.unref()
    }),
  ]).finally(() => clearTimeout(t))
}

// The file backend's watch: poll the records under a prefix, re-reading only files whose stat changed.
import {statSync, type BigIntStats} from 'node:fs'
import {stat} from 'node:fs/promises'
import {cmp, enoentUndefined, type FileRecords} from './file-records.js'
import {TopoError, type WatchEvent} from './store.js'

interface FileSig {
  key: string
  version: string
  value: unknown
}

export interface PollContext {
  records: FileRecords
  /** Run under the store-wide mutex with the journal replayed, so a scan never sees half of a commit. */
  critical<T>(fn: () => Promise<T>): Promise<T>
  pollMs: number
  /** Running watches' stop functions (close() stops them). */
  watchers: Set<() => void>
}

export async function pollWatch<T>(
  ctx: PollContext,
  prefix: string,
  onEvent: (ev: WatchEvent<T>) => void,
  onError?: (err: TopoError) => void,
): Promise<() => void> {
  let known = await ctx.critical(() => scanSignatures(ctx.records, prefix, new Map()))
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  const stop = () => {
    stopped = true
    if (timer) clearTimeout(timer)
    ctx.watchers.delete(stop)
  }
  const tick = async () => {
    let next: Map<string, FileSig>
    try {
      if (await unchanged(ctx.records, prefix, known)) {
        if (!stopped) timer = setTimeout(tick, ctx.pollMs)
        return
      }
      next = await ctx.critical(() => scanSignatures(ctx.records, prefix, known))
    } catch (e) {
      if (stopped) return
      // A busy mutex is worth another try; anything else (e.g. a broken record file) ends the watch.
      if (e instanceof TopoError && e.code === 'unavailable') {
        timer = setTimeout(tick, ctx.pollMs)
        return
      }
      stop()
      onError?.(e instanceof TopoError ? e : new TopoError('unavailable', String((e as Error).message ?? e)))
      return
    }
    if (stopped) return
    const events: WatchEvent<T>[] = []
    for (const [path, sig] of next) {
      if (known.get(path)?.version !== sig.version) {
        events.push({type: 'put', entry: {path, value: sig.value as T, version: sig.version}})
      }
    }
    for (const path of known.keys()) if (!next.has(path)) events.push({type: 'delete', path})
    known = next
    events.sort((a, b) => cmp(a.type === 'put' ? a.entry.path : a.path, b.type === 'put' ? b.entry.path : b.path))
    for (const ev of events) {
      if (stopped) return
      onEvent(ev)
    }
    if (!stopped) timer = setTimeout(tick, ctx.pollMs)
  }
  timer = setTimeout(tick, ctx.pollMs)
  ctx.watchers.add(stop)
  return stop
}

const sigKey = (st: BigIntStats): string => `${st.ino}:${st.size}:${st.mtimeNs}`

/**
 * Has no record under `prefix` changed since the last scan? Checked by stat alone and without the store-wide mutex:
 * a poll every 100 ms per watch would otherwise take the mutex all the time, from every process, while nothing
 * changes. A change seen half-way (a commit in progress) only sends the poll to the full scan under the mutex.
 */
async function unchanged(records: FileRecords, prefix: string, known: Map<string, FileSig>): Promise<boolean> {
  const paths = await records.scanPaths(prefix)
  if (paths.length !== known.size) return false
  for (const p of paths) {
    const st = statSync(records.fileOf(p), {bigint: true, throwIfNoEntry: false})
    if (!st || known.get(p)?.key !== sigKey(st)) return false
  }
  return true
}

/** Current version (and value) of each record under `prefix`; files whose stat is unchanged are not re-read. */
async function scanSignatures(
  records: FileRecords,
  prefix: string,
  previous: Map<string, FileSig>,
): Promise<Map<string, FileSig>> {
  const next = new Map<string, FileSig>()
  for (const p of await records.scanPaths(prefix)) {
    const st = await stat(records.fileOf(p), {bigint: true}).catch(enoentUndefined)
    if (!st) continue
    const key = sigKey(st)
    const old = previous.get(p)
    if (old && old.key === key) {
      next.set(p, old)
      continue
    }
    const e = await records.readEntry(p)
    if (e) next.set(p, {key, version: e.version, value: e.value})
  }
  return next
}

// The file backend's watch: poll the records under a prefix, re-reading only files whose stat changed.
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
    const key = `${st.ino}:${st.size}:${st.mtimeNs}`
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

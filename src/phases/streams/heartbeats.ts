// One heartbeat writer per source primary in this process, however many stream managers want one (a server runs a
// manager per stream item): the source gets one heartbeat row, and one heartbeat transaction per interval, per process.
import {HeartbeatWriter} from '../../mysql/heartbeat.js'
import type {TabletRecord} from '../../topo/records.js'
import {PROCESS_OWNER} from './state.js'

const writers = new Map<string, {writer: HeartbeatWriter; users: number}>()

/** Keep a heartbeat writer on `source` running; the returned function lets go (the last one out stops it). */
export function holdHeartbeat(source: TabletRecord, shard: string): () => Promise<void> {
  const key = `${source.alias}\n${shard}`
  let w = writers.get(key)
  if (!w) {
    w = {writer: new HeartbeatWriter(source, shard, PROCESS_OWNER), users: 0}
    writers.set(key, w)
    w.writer.start()
  }
  w.users++
  let released = false
  return async () => {
    if (released) return
    released = true
    if (--w.users > 0) return
    writers.delete(key)
    await w.writer.stop()
  }
}

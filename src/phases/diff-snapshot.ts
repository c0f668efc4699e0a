// Where diff reads a source shard: its rdonly tablet with replication stopped at a position (as the seed's SplitDiff
// does, sparing the primary that serves the application), else a consistent-snapshot transaction on its primary.
// Diff tasks of one source share a stopped rdonly whenever its position is not behind their held stream; the last
// one to finish starts replication again.
import {parseGtidPos, reached} from '../mysql/gtid.js'
import {
  frozenPosition,
  primarySnapshot,
  replicaReached,
  startReplica,
  stopReplica,
  type Snapshot,
} from '../mysql/snapshot.js'
import {dataSession} from '../mysql/session.js'
import type {TabletRecord} from '../topo/records.js'
import type {LockHandle} from '../topo/store.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {PhaseError} from './context.js'

/** How far behind the held stream an rdonly may be before diff reads the primary instead. */
const RDONLY_WAIT_SECONDS = 60

interface Frozen {
  gtid: string
  refs: number
  /** Held in the topology while this process keeps the rdonly stopped (see freezeLock). */
  lock?: LockHandle
}
const frozen = new Map<string, Frozen>()
const turns = new Map<string, Promise<unknown>>()

/** Run `fn` alone for this tablet (freezing and unfreezing it never interleave). */
function inTurn<T>(alias: string, fn: () => Promise<T>): Promise<T> {
  const prev = turns.get(alias) ?? Promise.resolve()
  const next = prev.then(fn, fn)
  turns.set(
    alias,
    next.catch(() => undefined),
  )
  return next
}

export interface DiffSnapshotOptions {
  rdonly?: TabletRecord
  primary: TabletRecord
  /** The position the stream into the destination is held at: the snapshot must not be behind it. */
  held: string
  signal: AbortSignal
  log(message: string): void
  /** Remember that this task stopped an rdonly, or that it runs again (a crash leaves it for resume to restart). */
  noteFrozen(alias: string, stopped: boolean): Promise<void>
  /**
   * Diffs on other servers freeze the same rdonly: hold its topology record while this process keeps it stopped
   * (undefined: another process holds it; wait until it lets go, then freeze it here at a position of our own).
   */
  freezeLock?(alias: string): Promise<LockHandle | undefined>
}

export async function diffSnapshot(o: DiffSnapshotOptions): Promise<Snapshot> {
  if (o.rdonly) {
    const snap = await rdonlyAtOrAfter(o, o.rdonly)
    if (snap) return snap
  }
  return primaryAtOrAfter(o.primary, o.held, o.signal)
}

/** After a crash of a diff that had stopped `t`: start its replication again if it is still stopped. */
export async function restartIfFrozen(t: TabletRecord, log: (m: string) => void): Promise<void> {
  if (frozen.has(t.alias)) return
  if ((await frozenPosition(t)) === undefined) return
  log(`replication on rdonly ${t.alias} is still stopped by the interrupted diff; starting it again`)
  await startReplica(t)
}

async function rdonlyAtOrAfter(o: DiffSnapshotOptions, t: TabletRecord): Promise<Snapshot | undefined> {
  const h = parseGtidPos(o.held)
  let waitNoted = false
  for (;;) {
    o.signal.throwIfAborted()
    const got = await inTurn(t.alias, async (): Promise<Frozen | 'busy' | 'elsewhere' | 'unusable'> => {
      const f = frozen.get(t.alias)
      if (f) {
        if (!reached(parseGtidPos(f.gtid), h)) return 'busy'
        f.refs++
        return f
      }
      const lock = await o.freezeLock?.(t.alias)
      if (o.freezeLock && !lock) return 'elsewhere'
      const where = await replicaReached(t, o.held, RDONLY_WAIT_SECONDS)
      if (where !== 'reached') {
        await lock?.release()
        o.log(
          where === 'stopped'
            ? `replication on rdonly ${t.alias} is not running; reading the primary ${o.primary.alias} instead`
            : `rdonly ${t.alias} is more than ${RDONLY_WAIT_SECONDS}s behind; reading the primary ${o.primary.alias} instead`,
        )
        return 'unusable'
      }
      await o.noteFrozen(t.alias, true)
      const g: Frozen = {gtid: await stopReplica(t), refs: 1, ...(lock ? {lock} : {})}
      frozen.set(t.alias, g)
      return g
    })
    if (got === 'unusable') return undefined
    if (got === 'busy' || got === 'elsewhere') {
      // Stopped by another diff at a position behind ours, or by a diff on another server: wait for it to finish.
      if (got === 'elsewhere' && !waitNoted)
        o.log(`rdonly ${t.alias} is stopped by a diff on another server; waiting for it`)
      waitNoted ||= got === 'elsewhere'
      await sleep(100, undefined, {signal: o.signal})
      continue
    }
    return shared(t, got, o)
  }
}

function shared(t: TabletRecord, f: Frozen, o: DiffSnapshotOptions): Snapshot {
  let released = false
  return {
    kind: 'rdonly',
    tablet: t,
    gtid: f.gtid,
    maxReaders: 4,
    reader: async () => {
      const conn = await dataSession(t, 'read')
      return {conn, close: () => conn.end()}
    },
    release: () =>
      inTurn(t.alias, async () => {
        if (released) return
        released = true
        if (--f.refs > 0) return
        frozen.delete(t.alias)
        await startReplica(t)
        await o.noteFrozen(t.alias, false)
        await f.lock?.release().catch(() => undefined)
      }),
  }
}

/**
 * A consistent snapshot of a primary at a position the held stream has not passed. The binlog can show a transaction
 * a moment before a new snapshot includes it, so a snapshot may land just behind the stream: take it again.
 */
async function primaryAtOrAfter(primary: TabletRecord, held: string, signal: AbortSignal): Promise<Snapshot> {
  const h = parseGtidPos(held)
  for (let i = 0; ; i++) {
    const snap = await primarySnapshot(primary)
    if (reached(parseGtidPos(snap.gtid), h)) return snap
    await snap.release()
    if (i >= 200) throw new PhaseError(`could not take a snapshot of ${primary.alias} at or after ${held}`)
    await sleep(25, undefined, {signal})
  }
}

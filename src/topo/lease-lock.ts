// The keyspace lock as both backends hold it: a record kept alive by a heartbeat, lost when the heartbeat stops
// reaching the store or the record goes. Each backend supplies only its primitives (LeasePrimitives).
import {hostname} from 'node:os'
import {processAlive, processStartTime} from '../util/process.js'
import type {LockRecord} from './records.js'
import {lockPath} from './paths.js'
import {
  checkPath,
  checkTtl,
  lockHeldError,
  lockLostError,
  isTopoError,
  newLockRecord,
  TopoError,
  type HoldOptions,
  type LockHandle,
  type LockOptions,
} from './store.js'

/** What a backend does for a held lock. */
export interface LeasePrimitives {
  /** Renew the lease now (file: rewrite the record); why the lock is lost, or undefined when renewed. */
  renew?(): Promise<string | undefined>
  /** Read the store: why the lock is not held any more, or undefined when it still is. */
  goneReason(): Promise<string | undefined>
  /** Remove our lock (release). */
  drop(): Promise<void>
  /** The handle is finished (released or lost): stop watches, forget it. Must not throw. */
  stop(): void
  /** The lock was lost: give up what still holds it (etcd: revoke the lease). Must not throw. */
  abandon?(): void
}

export interface LeaseLockOptions {
  keyspace: string
  record: LockRecord
  ttlMs: number
  /** How often to renew (or, when the backend renews by itself, to check the lease is still fresh). */
  beatMs: number
  tookOver?: LockRecord
  /** What is held, for messages (default `keyspace <keyspace>`). */
  what?: string
}

export class LeaseLock implements LockHandle {
  readonly keyspace: string
  readonly record: LockRecord
  readonly tookOver?: LockRecord
  readonly lost: Promise<never>
  private rejectLost!: (e: TopoError) => void
  private lostError?: TopoError
  private released = false
  private stopped = false
  private beating = false
  private lastRenewed = Date.now()
  private readonly ttlMs: number
  private readonly what?: string
  private readonly timer: NodeJS.Timeout

  constructor(
    opts: LeaseLockOptions,
    private readonly prim: LeasePrimitives,
  ) {
    this.keyspace = opts.keyspace
    this.record = opts.record
    this.ttlMs = opts.ttlMs
    this.what = opts.what
    if (opts.tookOver) this.tookOver = opts.tookOver
    this.lost = new Promise<never>((_, reject) => (this.rejectLost = reject))
    // Nobody has to listen to `lost`; an unobserved loss must not crash the process.
    this.lost.catch(() => undefined)
    this.timer = setInterval(() => void this.beat(), opts.beatMs)
    this.timer.unref()
  }

  /** The lease was renewed at `at` (the time the renewal was sent: the store counts the ttl from its arrival). */
  renewed(at: number): void {
    this.lastRenewed = at
  }

  /** Signal the loss to `lost` and to later check()s; a no-op once released or already lost. */
  lose(why: string): void {
    if (this.lostError || this.released) return
    this.lostError = lockLostError(this.keyspace, this.record.id, why, this.what)
    this.stop()
    this.prim.abandon?.()
    this.rejectLost(this.lostError)
  }

  async check(): Promise<void> {
    if (this.lostError) throw this.lostError
    if (this.released) throw lockLostError(this.keyspace, this.record.id, 'it was released', this.what)
    const why = await this.prim.goneReason()
    if (why) this.lose(why)
    if (this.lostError) throw this.lostError
  }

  async release(): Promise<void> {
    if (this.released) return
    const wasLost = !!this.lostError
    this.released = true
    this.stop()
    if (wasLost) return
    try {
      await this.prim.drop()
    } catch (e) {
      // Not renewed any more, so it expires within ttl anyway; not worth failing the caller's finished work for.
      if (!isTopoError(e, 'unavailable')) throw e
    }
  }

  private async beat(): Promise<void> {
    if (this.beating || this.released || this.lostError) return
    this.beating = true
    try {
      if (this.prim.renew) {
        const started = Date.now()
        const why = await this.prim.renew().catch(() => false as const)
        if (why) return this.lose(why)
        if (why === undefined) this.renewed(started)
      }
      if (Date.now() - this.lastRenewed > this.ttlMs) {
        this.lose(`no heartbeat renewed it for ${this.ttlMs / 1000} s, so its lease has expired`)
      }
    } finally {
      this.beating = false
    }
  }

  private stop(): void {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    this.prim.stop()
  }
}

/**
 * The holder of `l` is provably gone: it ran on this host, and its pid is not running or now belongs to a process
 * that started at another time. Records without host and pid (older ones) never are.
 */
export function holderGone(l: LockRecord): boolean {
  if (l.hostname !== hostname() || typeof l.pid !== 'number') return false
  if (!processAlive(l.pid)) return true
  return l.pidStart !== undefined && processStartTime(l.pid) !== l.pidStart
}

/** The lock record alone, without what a backend stores beside it (e.g. the file backend's expiry). */
export function lockRecordOf(v: LockRecord): LockRecord {
  const r: LockRecord = {id: v.id, who: v.who, operation: v.operation, created: v.created}
  if (v.hostname !== undefined) r.hostname = v.hostname
  if (v.pid !== undefined) r.pid = v.pid
  if (v.pidStart !== undefined) r.pidStart = v.pidStart
  if (v.server !== undefined) r.server = v.server
  return r
}

/** What taking a keyspace lock starts from: its record's path, the lease ttl (s, checked) and our new record. */
export function lockRequest(
  keyspace: string,
  opts: LockOptions,
): {path: string; ttlSeconds: number; record: LockRecord} {
  const path = lockPath(keyspace)
  checkPath(path)
  return {path, ttlSeconds: checkTtl(opts.ttlSeconds), record: newLockRecord(opts.operation, opts.server)}
}

/** What holding a record at `path` starts from (hold()): the ttl and our record with the caller's data. */
export function holdRequest(path: string, opts: HoldOptions): {ttlSeconds: number; record: LockRecord} {
  checkPath(path)
  return {ttlSeconds: checkTtl(opts.ttlSeconds), record: {...opts.data, ...newLockRecord(opts.operation)}}
}

/** One attempt at taking a lock: the handle, or the live holder and a way to wait for it to go. */
export type LockAttempt =
  | {handle: LeaseLock}
  | {holder: LockRecord; wait: (ms: number) => Promise<void>}
  /** The record went away between looking and taking: try again at once. */
  | {retry: true}

/** Try until the lock is ours, or fail naming the holder once `timeoutMs` has passed (0: at once). */
export async function acquireLease(
  keyspace: string,
  timeoutMs: number,
  attempt: () => Promise<LockAttempt>,
  heldError: (holder: LockRecord, waitedMs?: number) => TopoError = (h, w) => lockHeldError(keyspace, h, w),
): Promise<LeaseLock> {
  const started = Date.now()
  for (;;) {
    const a = await attempt()
    if ('handle' in a) return a.handle
    if ('retry' in a) continue
    const waited = Date.now() - started
    if (waited >= timeoutMs) throw heldError(lockRecordOf(a.holder), timeoutMs > 0 ? waited : undefined)
    await a.wait(timeoutMs - waited)
  }
}

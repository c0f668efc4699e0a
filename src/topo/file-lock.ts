// The file backend's keyspace lock: a record holding its own expiry, renewed under the store-wide mutex by the
// holder's heartbeat; a record that expired, or whose holder is provably gone, is taken over.
import {setTimeout as sleep} from 'node:timers/promises'
import {acquireLease, holderGone, holdRequest, LeaseLock, lockRecordOf, lockRequest} from './lease-lock.js'
import type {FileRecords} from './file-records.js'
import {lockPath} from './paths.js'
import type {LockRecord} from './records.js'
import {
  holdHeldError,
  recordText,
  TopoError,
  wrongLockError,
  type HoldOptions,
  type LockHandle,
  type LockOptions,
} from './store.js'

/** The lock record as the file backend stores it: the LockRecord plus its expiry. */
interface StoredLock extends LockRecord {
  /** Epoch ms; renewed by the holder's heartbeat every ttl/3. */
  expires: number
}

export interface FileLockContext {
  records: FileRecords
  /** Under the store-wide mutex. */
  withMutex<T>(fn: () => Promise<T>): Promise<T>
  /** Under the store-wide mutex, with a leftover journal rolled forward first. */
  critical<T>(fn: () => Promise<T>): Promise<T>
  /** Outside the mutex, after any commit under way has finished. */
  settled<T>(fn: () => Promise<T>): Promise<T>
  pollMs: number
  /** Held handles (close() releases them). */
  locks: Set<LockHandle>
}

export class FileLocks {
  constructor(private readonly ctx: FileLockContext) {}

  async lock(keyspace: string, opts: LockOptions): Promise<LockHandle> {
    const {path, ttlSeconds, record} = lockRequest(keyspace, opts)
    return this.take(path, keyspace, ttlSeconds, record, opts.timeoutMs)
  }

  /** A server's registration and the like: the same lease, at any path. */
  async hold(path: string, opts: HoldOptions): Promise<LockHandle> {
    const {ttlSeconds, record} = holdRequest(path, opts)
    return this.take(path, path, ttlSeconds, record, 0, path)
  }

  private async take(
    path: string,
    keyspace: string,
    ttlSeconds: number,
    record: LockRecord,
    timeoutMs: number,
    what?: string,
  ): Promise<LockHandle> {
    const ttlMs = ttlSeconds * 1000
    const heldError = what ? (h: LockRecord) => holdHeldError(path, h) : undefined
    return acquireLease(
      keyspace,
      timeoutMs,
      async () => {
        const taken = await this.ctx.critical(async (): Promise<{holder: StoredLock} | {tookOver?: LockRecord}> => {
          const cur = await this.read(path)
          if (cur && !isStale(cur)) return {holder: cur}
          await this.ctx.records.write(path, recordText(stored(record, ttlMs)))
          return cur ? {tookOver: lockRecordOf(cur)} : {}
        })
        if ('holder' in taken) {
          return {holder: taken.holder, wait: (ms: number) => sleep(Math.max(1, Math.min(this.ctx.pollMs, ms)))}
        }
        return {handle: this.handle(path, keyspace, record, ttlMs, taken.tookOver, what)}
      },
      heldError,
    )
  }

  async readLock(keyspace: string): Promise<LockRecord | undefined> {
    const cur = await this.ctx.settled(() => this.read(lockPath(keyspace)))
    return cur && !isStale(cur) ? lockRecordOf(cur) : undefined
  }

  async forceUnlock(keyspace: string, lockId: string): Promise<LockRecord> {
    const path = lockPath(keyspace)
    return this.ctx.critical(async () => {
      const cur = await this.read(path)
      if (!cur) throw new TopoError('not_found', `keyspace ${keyspace} is not locked.`)
      if (cur.id !== lockId) throw wrongLockError(keyspace, lockRecordOf(cur), lockId)
      await this.ctx.records.remove(path)
      return lockRecordOf(cur)
    })
  }

  private handle(
    path: string,
    keyspace: string,
    record: LockRecord,
    ttlMs: number,
    tookOver?: LockRecord,
    what?: string,
  ): LeaseLock {
    const {records} = this.ctx
    const h: LeaseLock = new LeaseLock(
      {
        keyspace,
        record,
        ttlMs,
        beatMs: Math.max(10, Math.floor(ttlMs / 3)),
        ...(tookOver ? {tookOver} : {}),
        ...(what ? {what} : {}),
      },
      {
        renew: () =>
          this.ctx.withMutex(async () => {
            const why = goneWhy(await this.read(path), record)
            if (!why) await records.write(path, recordText(stored(record, ttlMs)))
            return why
          }),
        goneReason: async () => {
          const cur = await records.fsCall(() => this.read(path))
          const why = goneWhy(cur, record)
          if (!why && cur!.expires < Date.now()) return 'it expired before the heartbeat could renew it'
          return why
        },
        drop: () =>
          this.ctx.withMutex(async () => {
            const cur = await this.read(path)
            if (cur?.id === record.id) await records.remove(path)
          }),
        stop: () => this.ctx.locks.delete(h),
      },
    )
    this.ctx.locks.add(h)
    return h
  }

  private async read(path: string): Promise<StoredLock | undefined> {
    return (await this.ctx.records.readEntry<StoredLock>(path))?.value
  }
}

function isStale(l: StoredLock): boolean {
  return !(l.expires >= Date.now()) || holderGone(l)
}

/** Why the lock `record` is not ours in the store any more (`cur` is what the store holds), or undefined. */
function goneWhy(cur: StoredLock | undefined, record: LockRecord): string | undefined {
  if (!cur) return 'its record was removed (force-unlock?)'
  if (cur.id !== record.id) return `it was taken over by ${cur.who} (lock ${cur.id})`
  return undefined
}

function stored(record: LockRecord, ttlMs: number): StoredLock {
  return {...record, expires: Date.now() + ttlMs}
}

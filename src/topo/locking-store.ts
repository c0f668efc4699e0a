// What both backends' stores share for the keyspace lock: the held handles (released on close) and the TopoLocker
// methods, answered by the backend's lock table.
import type {LockRecord} from './records.js'
import type {HoldOptions, LockHandle, LockOptions, TopoLocker} from './store.js'

/** A backend's keyspace locks (file-lock.ts, etcd-lock.ts). */
export interface KeyspaceLocks extends TopoLocker {
  readLock(keyspace: string): Promise<LockRecord | undefined>
}

export abstract class LockingStore implements TopoLocker {
  /** Locks this store holds; a lock table adds a handle when taken and drops it when released or lost. */
  protected readonly held = new Set<LockHandle>()
  protected abstract readonly keyspaceLocks: KeyspaceLocks

  lock(keyspace: string, opts: LockOptions): Promise<LockHandle> {
    return this.keyspaceLocks.lock(keyspace, opts)
  }

  readLock(keyspace: string): Promise<LockRecord | undefined> {
    return this.keyspaceLocks.readLock(keyspace)
  }

  forceUnlock(keyspace: string, lockId: string): Promise<LockRecord> {
    return this.keyspaceLocks.forceUnlock(keyspace, lockId)
  }

  hold(path: string, opts: HoldOptions): Promise<LockHandle> {
    return this.keyspaceLocks.hold(path, opts)
  }

  /** On close: give back every lock still held (a failure only means it expires by itself). */
  protected async releaseHeld(): Promise<void> {
    for (const h of [...this.held]) await h.release().catch(() => undefined)
  }
}

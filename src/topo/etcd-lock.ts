// The etcd backend's keyspace lock: a key bound to a lease that etcd3 keeps alive. A key whose holder is provably
// gone (same host, process dead or pid reused) is taken over at once with compare-and-swap on its revision.
import type {Lease, Watcher} from 'etcd3'
import type {EtcdClient} from './etcd-client.js'
import {cancelWatcher, waitForDelete, watchKey} from './etcd-watch.js'
import {acquireLease, holderGone, holdRequest, LeaseLock, lockRecordOf, lockRequest} from './lease-lock.js'
import {encodeValue} from './etcd-value.js'
import {lockPath} from './paths.js'
import type {LockRecord} from './records.js'
import {
  holdHeldError,
  isTopoError,
  TopoError,
  wrongLockError,
  type HoldOptions,
  type LockHandle,
  type LockOptions,
  type TopoStore,
} from './store.js'

export class EtcdLocks {
  constructor(
    private readonly c: EtcdClient,
    private readonly store: Pick<TopoStore, 'get' | 'delete'>,
    /** Held handles (close() releases them). */
    private readonly locks: Set<LockHandle>,
  ) {}

  async lock(keyspace: string, opts: LockOptions): Promise<LockHandle> {
    const {path, ttlSeconds, record} = lockRequest(keyspace, opts)
    return this.take({path, keyspace, ttlSeconds, record, timeoutMs: opts.timeoutMs})
  }

  /** A server's registration and the like: the same lease, at any path. */
  async hold(path: string, opts: HoldOptions): Promise<LockHandle> {
    const {ttlSeconds, record} = holdRequest(path, opts)
    return this.take({path, keyspace: path, ttlSeconds, record, timeoutMs: 0, what: path})
  }

  private async take(t: {
    path: string
    keyspace: string
    ttlSeconds: number
    record: LockRecord
    timeoutMs: number
    what?: string
  }): Promise<LockHandle> {
    const {path, keyspace, ttlSeconds, record} = t
    const what = t.what
    const ttl = Math.max(1, Math.ceil(ttlSeconds))
    const value = encodeValue(record)
    const key = this.c.key(path)
    const {client} = this.c
    const lease = client.lease(ttl)
    let leaseId: string
    try {
      leaseId = await this.c.call(() => lease.grant())
    } catch (e) {
      lease.release()
      throw e
    }
    const held = (revision: string, tookOver?: LockRecord) =>
      this.handle({keyspace, path, record, lease, leaseId, ttl, revision, what, ...(tookOver ? {tookOver} : {})})
    try {
      return await acquireLease(
        keyspace,
        t.timeoutMs,
        async () => {
          const res = await this.c.call(() =>
            client.kv.txn({
              compare: [{key, target: 'Create', result: 'Equal', create_revision: 0}],
              success: [{request_put: {key, value, lease: leaseId}}],
              failure: [{request_range: {key}}],
            }),
          )
          if (res.succeeded) return {handle: held(res.header.revision)}
          const kv = res.responses[0]?.response_range?.kvs[0]
          if (!kv) return {retry: true} // released in between
          const holder = this.c.entryOf<LockRecord>(kv).value
          if (!holderGone(holder)) {
            return {holder, wait: (ms: number) => waitForDelete(this.c, key, res.header.revision, ms)}
          }
          // Only if the dead holder's key is unchanged: of two takers, one wins and the other waits for the winner.
          // The put moves the key onto our lease, so the dead lease running out later does not delete it.
          const took = await this.c.call(() =>
            client.kv.txn({
              compare: [{key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision}],
              success: [{request_put: {key, value, lease: leaseId}}],
            }),
          )
          return took.succeeded ? {handle: held(took.header.revision, lockRecordOf(holder))} : {retry: true}
        },
        what ? (h) => holdHeldError(path, h) : undefined,
      )
    } catch (e) {
      await lease.revoke().catch(() => undefined)
      throw this.c.mapError(e)
    }
  }

  /** The holder, unless it is provably gone (its lease may not have run out yet, but nobody holds it any more). */
  async readLock(keyspace: string): Promise<LockRecord | undefined> {
    const e = await this.store.get<LockRecord>(lockPath(keyspace))
    return e && !holderGone(e.value) ? lockRecordOf(e.value) : undefined
  }

  async forceUnlock(keyspace: string, lockId: string): Promise<LockRecord> {
    const path = lockPath(keyspace)
    const cur = await this.store.get<LockRecord>(path)
    if (!cur) throw new TopoError('not_found', `keyspace ${keyspace} is not locked.`)
    const holder = lockRecordOf(cur.value)
    if (holder.id !== lockId) throw wrongLockError(keyspace, holder, lockId)
    try {
      await this.store.delete(path, cur.version)
    } catch (e) {
      if (isTopoError(e, 'not_found')) return holder // it went away by itself meanwhile
      throw e
    }
    return holder
  }

  private handle(h: {
    keyspace: string
    path: string
    what: string | undefined
    record: LockRecord
    lease: Lease
    leaseId: string
    ttl: number
    revision: string
    tookOver?: LockRecord
  }): LeaseLock {
    const {lease, leaseId, ttl} = h
    const key = this.c.key(h.path)
    // Watched from just after our write: its deletion means the lock is gone (force-unlock, or the lease ran out).
    const keyWatch: Watcher = watchKey(this.c, key, String(BigInt(h.revision) + 1n))
    const ttlMs = ttl * 1000
    const lock: LeaseLock = new LeaseLock(
      {
        keyspace: h.keyspace,
        record: h.record,
        ttlMs,
        beatMs: Math.max(100, ttlMs / 3),
        ...(h.tookOver ? {tookOver: h.tookOver} : {}),
        ...(h.what ? {what: h.what} : {}),
      },
      {
        goneReason: async () => {
          const kv = await this.c.rawGet(key)
          if (!kv) return 'its record is gone (lease expired, or force-unlock)'
          if (kv.lease !== leaseId) return 'it is now held by someone else'
          return undefined
        },
        // Revoking the lease deletes the lock key with it. If etcd cannot be reached the key still expires within
        // ttl, so a failed release is not worth failing the caller's (finished) work for.
        drop: () => lease.revoke().catch(() => undefined),
        stop: () => {
          this.locks.delete(lock)
          void cancelWatcher(keyWatch)
        },
        // Revoke rather than let it run out: if only the key went (force-unlock), the lease is useless now.
        abandon: () => void lease.revoke().catch(() => undefined),
      },
    )
    this.locks.add(lock)
    // The library reports a lost lease only after 2×ttl without etcd; the lease itself is gone after ttl, which
    // the base notices from the last keepalive etcd answered. etcd counts the ttl from when it got the keepalive,
    // so count from when it was sent, not answered.
    lease.on('lost', () => lock.lose('its lease expired or was revoked'))
    let sent = Date.now()
    lease.on('keepaliveFired', () => (sent = Date.now()))
    lease.on('keepaliveSucceeded', () => lock.renewed(sent))
    keyWatch.on('delete', () => lock.lose('its record was removed (force-unlock?)'))
    if (lease.revoked()) lock.lose('its lease expired before the lock was taken')
    return lock
  }
}

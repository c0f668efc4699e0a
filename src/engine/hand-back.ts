// A keyspace lock held by a `shardform server` is never waited out: a server keeps an unfinished workflow for as long
// as it lasts, gates included (days, in a review flow). An apply that needs the lock itself — a new workflow, such as
// the revert of the one the server runs — asks for it instead: it holds handback/<ks> while it waits; the server
// stops that run at committed positions (as on SIGTERM) and releases the lock, and no server claims the keyspace while
// the request lives. The request goes with the apply's lease, so a dead apply cannot block the servers for long.
import {handBackPath} from '../topo/paths.js'
import {isTopoError, type LockHandle, type LockOptions, type TopoStore} from '../topo/store.js'
import {EngineError} from './workflow.js'

/** How long an apply waits for a server to hand a keyspace back, unless its --lock-timeout is longer. */
export const HAND_BACK_WAIT_MS = 60_000

export async function lockOrAskServer(
  store: TopoStore,
  keyspace: string,
  opts: LockOptions,
  info?: (message: string) => void,
): Promise<LockHandle> {
  // A server itself waits like any other holder (its scan takes only free keyspaces anyway).
  if (opts.server) return store.lock(keyspace, opts)
  try {
    return await store.lock(keyspace, {...opts, timeoutMs: 0})
  } catch (e) {
    if (!isTopoError(e, 'lock_held')) throw e
    const holder = await store.readLock(keyspace)
    if (!holder?.server) return store.lock(keyspace, opts)
    let want: LockHandle
    try {
      want = await store.hold(handBackPath(keyspace), {operation: opts.operation, ttlSeconds: opts.ttlSeconds})
    } catch (err) {
      if (!isTopoError(err, 'lock_held')) throw err
      const other = await store.get<{who?: string}>(handBackPath(keyspace)).catch(() => undefined)
      throw new EngineError(
        `${other?.value?.who ?? 'another apply'} is already asking server ${holder.server} to hand keyspace ${keyspace} back; nothing was done.`,
        {code: 'engine.lock_held', hint: 'Wait for that apply to finish, then run this one again.'},
      )
    }
    info?.(`Asking server ${holder.server}, which runs keyspace ${keyspace}, to hand it back (${holder.operation}).`)
    try {
      return await store.lock(keyspace, {...opts, timeoutMs: Math.max(opts.timeoutMs, HAND_BACK_WAIT_MS)})
    } finally {
      await want.release().catch(() => undefined)
    }
  }
}

// The topology store: a small key/value contract that both the etcd and the file backend implement.
import {ShardformError, type ErrorParts} from '../errors.js'
import {randomBytes} from 'node:crypto'
import {hostname, userInfo} from 'node:os'
import {processStartTime} from '../util/process.js'
import type {LockRecord} from './records.js'

export interface Entry<T = unknown> {
  path: string
  value: T
  /**
   * Opaque revision for compare-and-swap; changes on every write of this key (the file backend hashes the content,
   * so rewriting identical bytes keeps the version).
   */
  version: string
}

export type WatchEvent<T = unknown> = {type: 'put'; entry: Entry<T>} | {type: 'delete'; path: string}

export type TopoErrorCode =
  | 'exists'
  | 'conflict'
  | 'not_found'
  | 'lock_held'
  | 'lock_lost'
  | 'unavailable'
  | 'bad_url'
  /** A write against a read-only snapshot. */
  | 'read_only'
  /** A stored record that is not valid JSON, or a path that cannot name a record. */
  | 'invalid'
  /** A write larger than the store accepts (etcd's request size or operations per transaction). */
  | 'too_large'

/** etcd's default --max-txn-ops: the writes one transaction may carry (more is refused as too_large). */
export const ETCD_DEFAULT_MAX_TXN_OPS = 128

export class TopoError extends ShardformError {
  override name = 'TopoError'
  constructor(
    override readonly code: TopoErrorCode,
    message: string,
    parts: Omit<ErrorParts, 'code'> = {},
  ) {
    super(message, {...parts, code})
  }
}

/** Is `err` a TopoError, with `code` when given (Vitess's IsErrType)? */
export function isTopoError(err: unknown, code?: TopoErrorCode): err is TopoError {
  return err instanceof TopoError && (code === undefined || err.code === code)
}

export interface LockOptions {
  /** What the holder is doing, shown to whoever waits. */
  operation: string
  /** How long to wait for a held lock; 0 = fail at once naming the holder. */
  timeoutMs: number
  /** Lease time-to-live: a crashed holder's lock disappears this long after its last heartbeat. */
  ttlSeconds?: number
  /** The `shardform server` taking it (stored in the record: the server's claim). */
  server?: string
}

/** A record held under a lease like the keyspace lock, at any path (a server's registration). */
export interface HoldOptions {
  /** What the holder is, shown to whoever finds it held. */
  operation: string
  /** Lease time-to-live in seconds (default 15). */
  ttlSeconds?: number
  /** Stored in the record beside the holder's fields (who, host, pid, …). */
  data?: Record<string, unknown>
}

export interface LockHandle {
  readonly record: LockRecord
  /** Rejects (code lock_lost) if the lease is lost while held; never resolves otherwise. */
  readonly lost: Promise<never>
  /** Throws TopoError(lock_lost) when the lease is gone. */
  check(): Promise<void>
  release(): Promise<void>
  /** The lock this one replaced because its holder was provably gone (same host, process dead or pid reused). */
  readonly tookOver?: LockRecord
}

export interface ListOptions {
  /**
   * The caller's previous listing: an entry whose version is unchanged comes back as that same object, not decoded
   * again (a server looks for work every second; a large workflow record takes tens of ms to decode). The caller
   * must treat listed values as read-only.
   */
  reuse?: ReadonlyMap<string, Entry<unknown>>
}

/** Reading records (after Terraform's statemgr roles): all a read-only snapshot can do. */
export interface TopoReader {
  /** Human-readable location, e.g. `etcd://127.0.0.1:2379/shardform` or `file:/path`. */
  readonly url: string
  /** Set when this is an exported snapshot (a file), not a live topology: nothing behind it can be reached. */
  readonly snapshotFile?: string
  get<T>(path: string): Promise<Entry<T> | undefined>
  /** Every entry whose path starts with `prefix`, sorted by path. */
  list<T>(prefix: string, opts?: ListOptions): Promise<Entry<T>[]>
  /**
   * Call `onEvent` for each change under `prefix` from now on. Returns a function that stops watching.
   * `onError` hears of a watch that broke for good (events may have been missed: re-read and watch again).
   */
  watch<T>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    onError?: (err: TopoError) => void,
  ): Promise<() => void>
  /** The current holder of the keyspace lock, if any. */
  readLock(keyspace: string): Promise<LockRecord | undefined>
  close(): Promise<void>
}

/** Writing records, each guarded by compare-and-swap. */
export interface TopoWriter {
  /** Create; TopoError(exists) when the key is already there. Returns the new version. */
  create(path: string, value: unknown): Promise<string>
  /** Replace when the current version is `version`; TopoError(conflict) otherwise, not_found when absent. */
  update(path: string, value: unknown, version: string): Promise<string>
  /** Delete; with a version, only when it still matches (conflict otherwise). Absent keys: not_found. */
  delete(path: string, version?: string): Promise<void>
  /**
   * Apply several writes at once, all or nothing. Each op may carry the version it expects
   * (`version: null` = must not exist).
   */
  commit(ops: TxnOp[]): Promise<void>
}

/** The keyspace lock. */
export interface TopoLocker {
  /** Take the keyspace lock (lease based). */
  lock(keyspace: string, opts: LockOptions): Promise<LockHandle>
  /** Remove a lock held by someone else; refuses unless `lockId` matches the holder. */
  forceUnlock(keyspace: string, lockId: string): Promise<LockRecord>
  /**
   * Hold the record at `path` under a lease until released (it goes when the holder dies): created when absent or
   * its holder is provably gone; TopoError(lock_held) naming the live holder otherwise.
   */
  hold(path: string, opts: HoldOptions): Promise<LockHandle>
}

export interface TopoStore extends TopoReader, TopoWriter, TopoLocker {}

export type TxnOp =
  {op: 'put'; path: string; value: unknown; version?: string | null} | {op: 'delete'; path: string; version?: string}

// Helpers shared by the backends, so both speak and fail the same way.

/**
 * Record paths are relative, `/`-separated names: no empty or `.`-leading segments (that rules out `..` and the
 * file backend's own dot files), and no `.json` folder that could clash with a record file.
 */
export function checkPath(path: string): void {
  const segs = path.split('/')
  const bad = (seg: string, i: number) =>
    seg === '' || seg.startsWith('.') || /[\\\0]/.test(seg) || (i < segs.length - 1 && seg.endsWith('.json'))
  if (path === '' || segs.some(bad)) {
    throw new TopoError('invalid', `"${path}" is not a valid topology path: use names like keyspaces/<ks>/Keyspace.`)
  }
}

/** Prefixes are paths that may end with `/` (or be empty for everything). */
export function checkPrefix(prefix: string): void {
  if (prefix === '') return
  checkPath(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix)
}

export function lockHeldError(keyspace: string, holder: LockRecord, waitedMs?: number): TopoError {
  const waited = waitedMs ? `gave up after ${(waitedMs / 1000).toFixed(1)} s: ` : ''
  return new TopoError(
    'lock_held',
    `${waited}keyspace ${keyspace} is locked by ${holder.who} for "${holder.operation}" since ${holder.created} ` +
      `(lock ${holder.id}). Wait for it to finish; if that process is gone, remove the lock with ` +
      `\`shardform force-unlock ${keyspace} ${holder.id}\`.`,
  )
}

export function lockLostError(keyspace: string, id: string, why: string, what = `keyspace ${keyspace}`): TopoError {
  return new TopoError(
    'lock_lost',
    `lost the lock on ${what} (lock ${id}): ${why}. Stop here; run the command again to resume.`,
  )
}

/** A held record (hold()) whose holder lives. */
export function holdHeldError(path: string, holder: LockRecord): TopoError {
  const where = holder.hostname ? ` on ${holder.hostname}${holder.pid ? ` pid ${holder.pid}` : ''}` : ''
  return new TopoError(
    'lock_held',
    `${path} is held by ${holder.who}${where} ("${holder.operation}") since ${holder.created}; it goes when that process stops.`,
  )
}

export function wrongLockError(keyspace: string, holder: LockRecord, lockId: string): TopoError {
  return new TopoError(
    'conflict',
    `keyspace ${keyspace} is locked by ${holder.id} (${holder.who}, "${holder.operation}"), not ${lockId}; nothing removed.`,
  )
}

/** The record every backend stores for a new lock: random short id, who/where, what, when. */
export function newLockRecord(operation: string, server?: string): LockRecord {
  const pidStart = processStartTime(process.pid)
  return {
    id: randomBytes(6).toString('hex'),
    who: `${safeUsername()}@${hostname()} pid ${process.pid}`,
    operation,
    created: new Date().toISOString(),
    hostname: hostname(),
    pid: process.pid,
    ...(pidStart === undefined ? {} : {pidStart}),
    ...(server === undefined ? {} : {server}),
  }
}

function safeUsername(): string {
  try {
    return userInfo().username
  } catch {
    // No passwd entry (e.g. an arbitrary uid in a container).
    return String(process.getuid?.() ?? 'unknown')
  }
}

/** Stored text of a record: pretty JSON, so files and `etcdctl get` stay readable. */
export function recordText(value: unknown): string {
  if (value === undefined) throw new TopoError('invalid', 'a topology record cannot be undefined.')
  return JSON.stringify(value, null, 2) + '\n'
}

/** The lock lease time-to-live in seconds (default 15), checked. */
export function checkTtl(ttlSeconds: number | undefined): number {
  const ttl = ttlSeconds ?? 15
  if (!(ttl > 0) || !Number.isFinite(ttl)) {
    throw new TopoError('invalid', `lock ttl must be a positive number of seconds, not ${ttlSeconds}.`)
  }
  return ttl
}

/** Paths unique and valid: etcd refuses a txn that touches a key twice, so both backends do. */
export function checkTxn(ops: TxnOp[]): void {
  const seen = new Set<string>()
  for (const o of ops) {
    checkPath(o.path)
    if (seen.has(o.path)) throw new TopoError('invalid', `${o.path} appears twice in one commit; merge those writes.`)
    seen.add(o.path)
  }
}

export function commitConflict(path: string, expected: string | null, current: string | undefined): TopoError {
  const want = expected === null ? 'to be absent' : `at version ${expected}`
  const found = current === undefined ? 'it is absent' : `it is at version ${current}`
  return new TopoError('conflict', `commit refused, nothing written: expected ${path} ${want}, but ${found}.`)
}

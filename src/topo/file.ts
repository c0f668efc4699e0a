// The file backend: one pretty JSON file per record under a directory, for one machine. Several processes may share
// it: writers take a store-wide mutex file, every write is a rename, and commit() goes through an intent journal.
import {createHash, randomBytes} from 'node:crypto'
import {hostname} from 'node:os'
import {link, mkdir, open, readFile, readdir, rename, rmdir, stat, unlink} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {TopoSnapshot} from './open.js'
import {lockPath} from './paths.js'
import {processAlive} from '../util/process.js'
import type {LockRecord} from './records.js'
import {
  checkPath,
  checkPrefix,
  checkTtl,
  checkTxn,
  commitConflict,
  lockHeldError,
  lockLostError,
  newLockRecord,
  recordText,
  TopoError,
  wrongLockError,
  type Entry,
  type LockHandle,
  type LockOptions,
  type TopoStore,
  type TxnOp,
  type WatchEvent,
} from './store.js'

export interface FileTopoOptions {
  /** How often watch() looks for changes (ms). */
  pollMs?: number
  /** How long to wait for the store-wide mutex before giving up (ms). */
  mutexTimeoutMs?: number
  /** A mutex this old is taken to be left behind by a crashed process (ms). */
  staleMutexMs?: number
  /** Test hook, called inside commit() after the journal is written and after each applied op. */
  onCommitStep?: (step: 'journaled' | 'applied', index: number) => void
}

/** The lock record as the file backend stores it: the LockRecord plus what tells a stale one apart. */
interface StoredLock extends LockRecord {
  /** Epoch ms; renewed by the holder's heartbeat every ttl/3. */
  expires: number
  pid: number
  hostname: string
}

interface Journal {
  format: 1
  ops: Array<{op: 'put'; path: string; text: string} | {op: 'delete'; path: string}>
}

const MUTEX = '.mutex'
const JOURNAL = '.journal.json'
const TMP = '.tmp'

/** A short content hash: the file backend's version (content addressed, so it survives copies and exports). */
export function contentVersion(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16)
}

/** `file:<dir>` opens a store directory; `file:<snapshot>.json` opens an exported snapshot read-only. */
export async function openFileTopo(location: string, opts: FileTopoOptions = {}): Promise<TopoStore> {
  const abs = resolve(location)
  const st = await stat(abs).catch(() => undefined)
  if (st?.isFile()) return SnapshotTopoStore.open(abs)
  if (!st && abs.endsWith('.json')) {
    throw new TopoError(
      'bad_url',
      `there is no snapshot at ${abs}; export one first, or name a directory for a live store.`,
    )
  }
  return FileTopoStore.open(abs, opts)
}

export class FileTopoStore implements TopoStore {
  readonly url: string
  private readonly pollMs: number
  private readonly mutexTimeoutMs: number
  private readonly staleMutexMs: number
  private readonly onCommitStep?: FileTopoOptions['onCommitStep']
  /** Serialises this process's own critical sections, so they queue here instead of polling the mutex file. */
  private queue: Promise<unknown> = Promise.resolve()
  private mutexText?: string
  private readonly watchers = new Set<() => void>()
  private readonly locks = new Set<FileLockHandle>()
  private closed = false

  private constructor(
    readonly dir: string,
    opts: FileTopoOptions,
  ) {
    this.url = `file:${dir}`
    this.pollMs = opts.pollMs ?? 100
    this.mutexTimeoutMs = opts.mutexTimeoutMs ?? 10_000
    this.staleMutexMs = opts.staleMutexMs ?? 5_000
    this.onCommitStep = opts.onCommitStep
  }

  static async open(dir: string, opts: FileTopoOptions = {}): Promise<FileTopoStore> {
    const store = new FileTopoStore(resolve(dir), opts)
    await store.fsCall(async () => {
      await mkdir(join(store.dir, TMP), {recursive: true})
      await store.withMutex(async () => {
        await store.replayJournal()
        await store.removeOrphanTemps()
      })
    })
    return store
  }

  // ---- reads

  async get<T>(path: string): Promise<Entry<T> | undefined> {
    checkPath(path)
    return this.fsCall(async () => {
      await this.settle()
      return this.readEntry<T>(path)
    })
  }

  async list<T>(prefix: string): Promise<Entry<T>[]> {
    checkPrefix(prefix)
    // Under the mutex, so a list never shows half of a commit.
    return this.withMutex(async () => {
      await this.replayJournal()
      const paths = await this.scanPaths(prefix)
      const out: Entry<T>[] = []
      for (const p of paths) {
        const e = await this.readEntry<T>(p)
        if (e) out.push(e)
      }
      return out
    })
  }

  // ---- writes

  async create(path: string, value: unknown): Promise<string> {
    checkPath(path)
    const text = recordText(value)
    return this.withMutex(async () => {
      await this.replayJournal()
      if ((await this.readVersion(path)) !== undefined) throw new TopoError('exists', `${path} already exists.`)
      await this.writeAtomic(this.fileOf(path), text)
      return contentVersion(text)
    })
  }

  async update(path: string, value: unknown, version: string): Promise<string> {
    checkPath(path)
    const text = recordText(value)
    return this.withMutex(async () => {
      await this.replayJournal()
      const current = await this.readVersion(path)
      if (current === undefined) throw new TopoError('not_found', `${path} does not exist.`)
      if (current !== version) throw conflict(path, version, current)
      await this.writeAtomic(this.fileOf(path), text)
      return contentVersion(text)
    })
  }

  async delete(path: string, version?: string): Promise<void> {
    checkPath(path)
    await this.withMutex(async () => {
      await this.replayJournal()
      const current = await this.readVersion(path)
      if (current === undefined) throw new TopoError('not_found', `${path} does not exist.`)
      if (version !== undefined && current !== version) throw conflict(path, version, current)
      await this.removeFile(path)
    })
  }

  async commit(ops: TxnOp[]): Promise<void> {
    checkTxn(ops)
    if (ops.length === 0) return
    const journal: Journal = {
      format: 1,
      ops: ops.map((o) =>
        o.op === 'put' ? {op: 'put', path: o.path, text: recordText(o.value)} : {op: 'delete', path: o.path},
      ),
    }
    await this.withMutex(async () => {
      await this.replayJournal()
      for (const o of ops) {
        if (o.version === undefined) continue
        const current = await this.readVersion(o.path)
        if (o.version === null ? current !== undefined : current !== o.version) {
          throw commitConflict(o.path, o.version, current)
        }
      }
      // Intent first: once the journal is down, the commit happens even if this process dies now.
      await this.writeAtomic(join(this.dir, JOURNAL), JSON.stringify(journal, null, 2) + '\n')
      this.onCommitStep?.('journaled', -1)
      await this.applyJournal(journal)
    })
  }

  // ---- watch

  async watch<T>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    onError?: (err: TopoError) => void,
  ): Promise<() => void> {
    checkPrefix(prefix)
    let known = await this.withMutex(async () => {
      await this.replayJournal()
      return this.scanSignatures(prefix, new Map())
    })
    let stopped = false
    let timer: NodeJS.Timeout | undefined
    const stop = () => {
      stopped = true
      if (timer) clearTimeout(timer)
      this.watchers.delete(stop)
    }
    const tick = async () => {
      let next: Map<string, FileSig>
      try {
        next = await this.withMutex(async () => {
          await this.replayJournal()
          return this.scanSignatures(prefix, known)
        })
      } catch (e) {
        if (stopped) return
        // A busy mutex is worth another try; anything else (e.g. a broken record file) ends the watch.
        if (e instanceof TopoError && e.code === 'unavailable') {
          timer = setTimeout(tick, this.pollMs)
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
      if (!stopped) timer = setTimeout(tick, this.pollMs)
    }
    timer = setTimeout(tick, this.pollMs)
    this.watchers.add(stop)
    return stop
  }

  // ---- keyspace lock

  async lock(keyspace: string, opts: LockOptions): Promise<LockHandle> {
    const path = lockPath(keyspace)
    checkPath(path)
    const ttlMs = checkTtl(opts.ttlSeconds) * 1000
    const record = newLockRecord(opts.operation)
    const started = Date.now()
    for (;;) {
      const holder = await this.withMutex(async () => {
        await this.replayJournal()
        const cur = await this.readLockFile(path)
        if (cur && !this.isStaleLock(cur)) return cur
        await this.writeAtomic(this.fileOf(path), recordText(storedLock(record, ttlMs)))
        return undefined
      })
      if (!holder) {
        const handle = new FileLockHandle(this, keyspace, record, ttlMs)
        this.locks.add(handle)
        return handle
      }
      const waited = Date.now() - started
      if (waited >= opts.timeoutMs)
        throw lockHeldError(keyspace, lockRecordOf(holder), opts.timeoutMs > 0 ? waited : undefined)
      await sleep(Math.max(1, Math.min(this.pollMs, opts.timeoutMs - waited)))
    }
  }

  async readLock(keyspace: string): Promise<LockRecord | undefined> {
    const cur = await this.fsCall(async () => {
      await this.settle()
      return this.readLockFile(lockPath(keyspace))
    })
    return cur && !this.isStaleLock(cur) ? lockRecordOf(cur) : undefined
  }

  async forceUnlock(keyspace: string, lockId: string): Promise<LockRecord> {
    const path = lockPath(keyspace)
    return this.withMutex(async () => {
      await this.replayJournal()
      const cur = await this.readLockFile(path)
      if (!cur) throw new TopoError('not_found', `keyspace ${keyspace} is not locked.`)
      if (cur.id !== lockId) throw wrongLockError(keyspace, lockRecordOf(cur), lockId)
      await this.removeFile(path)
      return lockRecordOf(cur)
    })
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const stop of [...this.watchers]) stop()
    for (const h of [...this.locks]) await h.release().catch(() => undefined)
  }

  // ---- internals used by the lock handle

  /** @internal Renew our lock record; returns why it is lost, or undefined when renewed. */
  async renewLock(keyspace: string, record: LockRecord, ttlMs: number): Promise<string | undefined> {
    const path = lockPath(keyspace)
    return this.withMutex(async () => {
      const cur = await this.readLockFile(path)
      if (!cur) return 'its record was removed (force-unlock?)'
      if (cur.id !== record.id) return `it was taken over by ${cur.who} (lock ${cur.id})`
      await this.writeAtomic(this.fileOf(path), recordText(storedLock(record, ttlMs)))
      return undefined
    })
  }

  /** @internal Why our lock is not held any more, or undefined when it still is. */
  async lockGoneReason(keyspace: string, record: LockRecord): Promise<string | undefined> {
    const cur = await this.fsCall(() => this.readLockFile(lockPath(keyspace)))
    if (!cur) return 'its record was removed (force-unlock?)'
    if (cur.id !== record.id) return `it was taken over by ${cur.who} (lock ${cur.id})`
    if (cur.expires < Date.now()) return 'it expired before the heartbeat could renew it'
    return undefined
  }

  /** @internal */
  forgetLock(handle: FileLockHandle): void {
    this.locks.delete(handle)
  }

  /** @internal */
  async dropLock(handle: FileLockHandle): Promise<void> {
    this.locks.delete(handle)
    const path = lockPath(handle.keyspace)
    await this.withMutex(async () => {
      const cur = await this.readLockFile(path)
      if (cur?.id === handle.record.id) await this.removeFile(path)
    })
  }

  // ---- files

  private fileOf(path: string): string {
    return join(this.dir, `${path}.json`)
  }

  private async readEntry<T>(path: string): Promise<Entry<T> | undefined> {
    const bytes = await readFile(this.fileOf(path)).catch(enoentUndefined)
    if (bytes === undefined) return undefined
    return {path, value: this.parse(path, bytes) as T, version: contentVersion(bytes)}
  }

  private async readVersion(path: string): Promise<string | undefined> {
    const bytes = await readFile(this.fileOf(path)).catch(enoentUndefined)
    return bytes === undefined ? undefined : contentVersion(bytes)
  }

  private parse(path: string, bytes: Buffer): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'))
    } catch (e) {
      throw new TopoError(
        'invalid',
        `${this.fileOf(path)} is not valid JSON (${(e as Error).message}); fix or delete that file.`,
      )
    }
  }

  private async readLockFile(path: string): Promise<StoredLock | undefined> {
    const e = await this.readEntry<StoredLock>(path)
    return e?.value
  }

  private isStaleLock(l: StoredLock): boolean {
    if (!(l.expires >= Date.now())) return true
    return l.hostname === hostname() && !processAlive(l.pid)
  }

  /** Temp file + rename: readers see the old bytes or the new ones, never a torn file. */
  private async writeAtomic(target: string, text: string): Promise<void> {
    await mkdir(dirname(target), {recursive: true})
    const tmp = join(this.dir, TMP, `${process.pid}-${randomBytes(4).toString('hex')}`)
    const fh = await open(tmp, 'w')
    try {
      await fh.writeFile(text)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, target)
  }

  private async removeFile(path: string): Promise<void> {
    await unlink(this.fileOf(path)).catch(enoentUndefined)
    // Drop folders left empty, so the tree mirrors what exists.
    let d = dirname(this.fileOf(path))
    while (d.startsWith(this.dir + '/')) {
      try {
        await rmdir(d)
      } catch {
        break
      }
      d = dirname(d)
    }
  }

  /** Paths of every record under `prefix`, sorted. */
  private async scanPaths(prefix: string): Promise<string[]> {
    const base = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : ''
    const out: string[] = []
    const walk = async (rel: string): Promise<void> => {
      const dirents = await readdir(join(this.dir, rel), {withFileTypes: true}).catch(enoentUndefined)
      for (const d of dirents ?? []) {
        if (d.name.startsWith('.')) continue
        const child = rel ? `${rel}/${d.name}` : d.name
        if (d.isDirectory()) {
          if (`${child}/`.startsWith(prefix) || prefix.startsWith(`${child}/`)) await walk(child)
        } else if (d.isFile() && d.name.endsWith('.json')) {
          const p = child.slice(0, -'.json'.length)
          if (p.startsWith(prefix)) out.push(p)
        }
      }
    }
    await walk(base)
    return out.sort(cmp)
  }

  /** Current version (and value) of each record under `prefix`; files whose stat is unchanged are not re-read. */
  private async scanSignatures(prefix: string, previous: Map<string, FileSig>): Promise<Map<string, FileSig>> {
    const next = new Map<string, FileSig>()
    for (const p of await this.scanPaths(prefix)) {
      const st = await stat(this.fileOf(p), {bigint: true}).catch(enoentUndefined)
      if (!st) continue
      const key = `${st.ino}:${st.size}:${st.mtimeNs}`
      const old = previous.get(p)
      if (old && old.key === key) {
        next.set(p, old)
        continue
      }
      const e = await this.readEntry(p)
      if (e) next.set(p, {key, version: e.version, value: e.value})
    }
    return next
  }

  // ---- journal

  /** Roll forward a commit that a dead (or just finished) process left half done. Call with the mutex held. */
  private async replayJournal(): Promise<void> {
    const text = await readFile(join(this.dir, JOURNAL), 'utf8').catch(enoentUndefined)
    if (text === undefined) return
    let journal: Journal
    try {
      journal = JSON.parse(text) as Journal
    } catch {
      // It is renamed into place whole, so this is not a torn write: someone edited it. Refuse to guess.
      throw new TopoError('invalid', `${join(this.dir, JOURNAL)} is damaged; inspect it, then delete it to go on.`)
    }
    await this.applyJournal(journal)
  }

  private async applyJournal(journal: Journal): Promise<void> {
    for (const [i, o] of journal.ops.entries()) {
      if (o.op === 'put') await this.writeAtomic(this.fileOf(o.path), o.text)
      else await this.removeFile(o.path)
      this.onCommitStep?.('applied', i)
    }
    await unlink(join(this.dir, JOURNAL)).catch(enoentUndefined)
  }

  /** Before a plain read: if a journal is pending, wait for its writer (or replay it) so reads see whole commits. */
  private async settle(): Promise<void> {
    const pending = await stat(join(this.dir, JOURNAL)).catch(enoentUndefined)
    if (pending) await this.withMutex(() => this.replayJournal())
  }

  private async removeOrphanTemps(): Promise<void> {
    for (const name of (await readdir(join(this.dir, TMP)).catch(enoentUndefined)) ?? []) {
      const pid = Number(name.split('-')[0])
      if (pid !== process.pid && !processAlive(pid)) await unlink(join(this.dir, TMP, name)).catch(() => undefined)
    }
  }

  // ---- the store-wide mutex

  /** Run `fn` holding the store-wide mutex; fs errors become TopoErrors. */
  private withMutex<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() =>
      this.fsCall(async () => {
        await this.acquireMutex()
        try {
          return await fn()
        } finally {
          await this.releaseMutex()
        }
      }),
    )
    this.queue = run.catch(() => undefined)
    return run
  }

  private async acquireMutex(): Promise<void> {
    const file = join(this.dir, MUTEX)
    const text = JSON.stringify({
      pid: process.pid,
      hostname: hostname(),
      at: Date.now(),
      nonce: randomBytes(4).toString('hex'),
    })
    const deadline = Date.now() + this.mutexTimeoutMs
    for (;;) {
      try {
        const fh = await open(file, 'wx')
        try {
          await fh.writeFile(text)
        } finally {
          await fh.close()
        }
        this.mutexText = text
        return
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e
      }
      const seen = await readFile(file, 'utf8').catch(enoentUndefined)
      if (seen !== undefined && (await this.isStaleMutex(file, seen))) {
        await this.breakMutex(file, seen)
        continue
      }
      if (Date.now() > deadline) {
        const holder = parseMutex(seen ?? '')
        throw new TopoError(
          'unavailable',
          `the file topology at ${this.dir} stays busy: ${file} is held by pid ${holder?.pid ?? '?'}. ` +
            `If no shardform process is running, delete that file.`,
        )
      }
      await sleep(1 + Math.random() * 5)
    }
  }

  private async isStaleMutex(file: string, text: string): Promise<boolean> {
    const m = parseMutex(text)
    if (m && m.hostname === hostname() && !processAlive(m.pid)) return true
    // Unreadable (a holder killed between create and write) or from another host: go by age.
    const at = m?.at ?? Number((await stat(file).catch(enoentUndefined))?.mtimeMs ?? Date.now())
    return Date.now() - at > this.staleMutexMs
  }

  /** Move the stale mutex aside; if what moved is not what we judged stale (someone just took it), put it back. */
  private async breakMutex(file: string, seen: string): Promise<void> {
    const aside = join(this.dir, TMP, `${process.pid}-${randomBytes(4).toString('hex')}-stale-mutex`)
    try {
      await rename(file, aside)
    } catch {
      return
    }
    const moved = await readFile(aside, 'utf8').catch(() => seen)
    if (moved !== seen) await link(aside, file).catch(() => undefined)
    await unlink(aside).catch(() => undefined)
  }

  private async releaseMutex(): Promise<void> {
    const file = join(this.dir, MUTEX)
    const ours = this.mutexText
    this.mutexText = undefined
    // Only remove it if it is still ours (it may have been broken as stale if we stalled for long).
    const cur = await readFile(file, 'utf8').catch(enoentUndefined)
    if (cur === ours) await unlink(file).catch(enoentUndefined)
  }

  /** Map file-system failures to one clear TopoError. */
  private async fsCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof TopoError) throw e
      const err = e as NodeJS.ErrnoException
      throw new TopoError(
        'unavailable',
        `cannot use the file topology at ${this.dir}: ${err.code ? `${err.code} on ${err.path ?? 'a file'}` : err.message}.` +
          ` Check that the directory exists and is writable.`,
      )
    }
  }
}

class FileLockHandle implements LockHandle {
  readonly lost: Promise<never>
  private rejectLost!: (e: TopoError) => void
  private lostError?: TopoError
  private released = false
  private beating = false
  private expires: number
  private readonly timer: NodeJS.Timeout

  constructor(
    private readonly store: FileTopoStore,
    readonly keyspace: string,
    readonly record: LockRecord,
    private readonly ttlMs: number,
  ) {
    this.lost = new Promise<never>((_, reject) => (this.rejectLost = reject))
    // Nobody has to listen to `lost`; an unobserved loss must not crash the process.
    this.lost.catch(() => undefined)
    this.expires = Date.now() + ttlMs
    this.timer = setInterval(() => void this.beat(), Math.max(10, Math.floor(ttlMs / 3)))
    this.timer.unref()
  }

  private async beat(): Promise<void> {
    if (this.beating || this.released || this.lostError) return
    this.beating = true
    try {
      const started = Date.now()
      const why = await this.store.renewLock(this.keyspace, this.record, this.ttlMs)
      if (why) this.lose(why)
      else this.expires = started + this.ttlMs
    } catch {
      if (Date.now() > this.expires) this.lose('the heartbeat could not renew it before it expired')
    } finally {
      this.beating = false
    }
  }

  private lose(why: string): void {
    if (this.lostError || this.released) return
    clearInterval(this.timer)
    this.store.forgetLock(this)
    this.lostError = lockLostError(this.keyspace, this.record.id, why)
    this.rejectLost(this.lostError)
  }

  async check(): Promise<void> {
    if (this.lostError) throw this.lostError
    if (this.released) throw lockLostError(this.keyspace, this.record.id, 'it was released')
    const why = await this.store.lockGoneReason(this.keyspace, this.record)
    if (why) {
      this.lose(why)
      throw this.lostError!
    }
  }

  async release(): Promise<void> {
    if (this.released) return
    this.released = true
    clearInterval(this.timer)
    this.store.forgetLock(this)
    if (this.lostError) return
    try {
      await this.store.dropLock(this)
    } catch (e) {
      // Not renewed any more, so it expires within ttl anyway; not worth failing the caller's finished work for.
      if (!(e instanceof TopoError && e.code === 'unavailable')) throw e
    }
  }
}

/** An exported snapshot opened read-only: for planning against it (e.g. in code review). */
export class SnapshotTopoStore implements TopoStore {
  readonly url: string

  private constructor(
    readonly file: string,
    private readonly snapshot: TopoSnapshot,
  ) {
    this.url = `file:${file}`
  }

  static async open(file: string): Promise<SnapshotTopoStore> {
    const abs = resolve(file)
    const notSnapshot = (why: string) =>
      new TopoError(
        'bad_url',
        `${abs} is a file but not a shardform topology snapshot (${why}); give a directory, or a .json file ` +
          `written by the topology export.`,
      )
    if (!abs.endsWith('.json')) throw notSnapshot('its name does not end in .json')
    let snap: TopoSnapshot
    try {
      snap = JSON.parse(await readFile(abs, 'utf8')) as TopoSnapshot
    } catch (e) {
      throw notSnapshot((e as Error).message)
    }
    if (snap?.format_version !== '1' || typeof snap.records !== 'object' || snap.records === null) {
      throw notSnapshot('format_version "1" and records are required')
    }
    return new SnapshotTopoStore(abs, snap)
  }

  async get<T>(path: string): Promise<Entry<T> | undefined> {
    checkPath(path)
    if (!Object.hasOwn(this.snapshot.records, path)) return undefined
    return this.entry<T>(path)
  }

  async list<T>(prefix: string): Promise<Entry<T>[]> {
    checkPrefix(prefix)
    return Object.keys(this.snapshot.records)
      .filter((p) => p.startsWith(prefix))
      .sort(cmp)
      .map((p) => this.entry<T>(p))
  }

  async watch(): Promise<() => void> {
    // A snapshot never changes.
    return () => undefined
  }

  async readLock(): Promise<LockRecord | undefined> {
    return undefined
  }

  create(): Promise<string> {
    return this.refuse('create a record')
  }
  update(): Promise<string> {
    return this.refuse('update a record')
  }
  delete(): Promise<void> {
    return this.refuse('delete a record')
  }
  commit(): Promise<void> {
    return this.refuse('commit changes')
  }
  lock(): Promise<LockHandle> {
    return this.refuse('take a keyspace lock')
  }
  forceUnlock(): Promise<LockRecord> {
    return this.refuse('remove a lock')
  }

  async close(): Promise<void> {}

  private entry<T>(path: string): Entry<T> {
    const value = this.snapshot.records[path]
    // Same bytes a file store would hold, so versions match the store the snapshot came from.
    return {path, value: value as T, version: contentVersion(recordText(value))}
  }

  private async refuse(what: string): Promise<never> {
    throw new TopoError(
      'read_only',
      `cannot ${what}: ${this.file} is a read-only snapshot of ${this.snapshot.source} (exported ${this.snapshot.exported_at}); ` +
        `open the live topology to change it.`,
    )
  }
}

// ---- helpers

interface FileSig {
  key: string
  version: string
  value: unknown
}

function storedLock(record: LockRecord, ttlMs: number): StoredLock {
  return {...record, expires: Date.now() + ttlMs, pid: process.pid, hostname: hostname()}
}

function lockRecordOf(l: StoredLock): LockRecord {
  return {id: l.id, who: l.who, operation: l.operation, created: l.created}
}

function conflict(path: string, expected: string, current: string): TopoError {
  return new TopoError(
    'conflict',
    `${path} changed since it was read (expected version ${expected}, found ${current}); re-read it and try again.`,
  )
}

function parseMutex(text: string): {pid: number; hostname: string; at: number} | undefined {
  try {
    const m = JSON.parse(text) as {pid: number; hostname: string; at: number}
    return typeof m.pid === 'number' ? m : undefined
  } catch {
    return undefined
  }
}

function enoentUndefined(e: unknown): undefined {
  if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  throw e
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

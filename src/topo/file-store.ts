// The file backend: one pretty JSON file per record under a directory, for one machine. Several processes may share
// it: writers take a store-wide mutex file, every write is a rename, and commit() goes through an intent journal.
import {mkdir, readdir, unlink} from 'node:fs/promises'
import {join, resolve} from 'node:path'
import {processAlive} from '../util/process.js'
import {FileJournal, journalOf, type CommitStepHook} from './file-journal.js'
import {FileLocks} from './file-lock.js'
import {FileMutex} from './file-mutex.js'
import {contentVersion, enoentUndefined, FileRecords, TMP} from './file-records.js'
import {pollWatch} from './file-watch.js'
import {LockingStore} from './locking-store.js'
import {
  checkPath,
  checkPrefix,
  checkTxn,
  commitConflict,
  recordText,
  TopoError,
  type Entry,
  type ListOptions,
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
  onCommitStep?: CommitStepHook
}

export class FileTopoStore extends LockingStore implements TopoStore {
  readonly url: string
  private readonly pollMs: number
  private readonly records: FileRecords
  private readonly mutex: FileMutex
  private readonly journal: FileJournal
  protected readonly keyspaceLocks: FileLocks
  private readonly watchers = new Set<() => void>()
  private closed = false

  private constructor(
    readonly dir: string,
    opts: FileTopoOptions,
  ) {
    super()
    this.url = `file:${dir}`
    this.pollMs = opts.pollMs ?? 100
    this.records = new FileRecords(dir)
    this.mutex = new FileMutex(this.records, {
      timeoutMs: opts.mutexTimeoutMs ?? 10_000,
      staleMs: opts.staleMutexMs ?? 5_000,
    })
    this.journal = new FileJournal(this.records, opts.onCommitStep)
    this.keyspaceLocks = new FileLocks({
      records: this.records,
      withMutex: (fn) => this.mutex.run(fn),
      critical: (fn) => this.critical(fn),
      settled: (fn) => this.settled(fn),
      pollMs: this.pollMs,
      locks: this.held,
    })
  }

  static async open(dir: string, opts: FileTopoOptions = {}): Promise<FileTopoStore> {
    const store = new FileTopoStore(resolve(dir), opts)
    await store.records.fsCall(async () => {
      await mkdir(join(store.dir, TMP), {recursive: true})
      await store.critical(() => store.removeOrphanTemps())
    })
    return store
  }

  // ---- reads

  async get<T>(path: string): Promise<Entry<T> | undefined> {
    checkPath(path)
    return this.settled(() => this.records.readEntry<T>(path))
  }

  async list<T>(prefix: string, opts: ListOptions = {}): Promise<Entry<T>[]> {
    checkPrefix(prefix)
    // Under the mutex, so a list never shows half of a commit.
    return this.critical(async () => {
      const out: Entry<T>[] = []
      for (const p of await this.records.scanPaths(prefix)) {
        const e = this.records.readEntrySync<T>(p, opts.reuse?.get(p))
        if (e) out.push(e)
      }
      return out
    })
  }

  // ---- writes

  async create(path: string, value: unknown): Promise<string> {
    checkPath(path)
    const text = recordText(value)
    return this.critical(async () => {
      if ((await this.records.readVersion(path)) !== undefined) throw new TopoError('exists', `${path} already exists.`)
      await this.records.write(path, text)
      return contentVersion(text)
    })
  }

  async update(path: string, value: unknown, version: string): Promise<string> {
    checkPath(path)
    const text = recordText(value)
    return this.critical(async () => {
      const current = await this.records.readVersion(path)
      if (current === undefined) throw new TopoError('not_found', `${path} does not exist.`)
      if (current !== version) throw conflict(path, version, current)
      await this.records.write(path, text)
      return contentVersion(text)
    })
  }

  async delete(path: string, version?: string): Promise<void> {
    checkPath(path)
    await this.critical(async () => {
      const current = await this.records.readVersion(path)
      if (current === undefined) throw new TopoError('not_found', `${path} does not exist.`)
      if (version !== undefined && current !== version) throw conflict(path, version, current)
      await this.records.remove(path)
    })
  }

  async commit(ops: TxnOp[]): Promise<void> {
    checkTxn(ops)
    if (ops.length === 0) return
    const journal = journalOf(ops)
    await this.critical(async () => {
      for (const o of ops) {
        if (o.version === undefined) continue
        const current = await this.records.readVersion(o.path)
        if (o.version === null ? current !== undefined : current !== o.version) {
          throw commitConflict(o.path, o.version, current)
        }
      }
      await this.journal.commit(journal)
    })
  }

  // ---- watch

  async watch<T>(
    prefix: string,
    onEvent: (ev: WatchEvent<T>) => void,
    onError?: (err: TopoError) => void,
  ): Promise<() => void> {
    checkPrefix(prefix)
    const ctx = {
      records: this.records,
      critical: this.critical.bind(this),
      pollMs: this.pollMs,
      watchers: this.watchers,
    }
    return pollWatch(ctx, prefix, onEvent, onError)
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const stop of [...this.watchers]) stop()
    await this.releaseHeld()
  }

  // ---- internals

  /** Under the store-wide mutex, after rolling forward any commit a dead process left half done. */
  private critical<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await this.journal.replay()
      return fn()
    })
  }

  /** Before a plain read: if a journal is pending, wait for its writer (or replay it) so reads see whole commits. */
  private settled<T>(fn: () => Promise<T>): Promise<T> {
    return this.records.fsCall(async () => {
      if (await this.journal.pending()) await this.critical(async () => undefined)
      return fn()
    })
  }

  private async removeOrphanTemps(): Promise<void> {
    for (const name of (await readdir(join(this.dir, TMP)).catch(enoentUndefined)) ?? []) {
      const pid = Number(name.split('-')[0])
      if (pid !== process.pid && !processAlive(pid)) await unlink(join(this.dir, TMP, name)).catch(() => undefined)
    }
  }
}

function conflict(path: string, expected: string, current: string): TopoError {
  return new TopoError(
    'conflict',
    `${path} changed since it was read (expected version ${expected}, found ${current}); re-read it and try again.`,
  )
}

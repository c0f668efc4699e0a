// An exported snapshot opened read-only: for planning against it (e.g. in code review). It is only a TopoReader;
// readOnlyStore() gives it the writer and locker parts, each refusing with a clear read_only error.
import {readFile} from 'node:fs/promises'
import {resolve} from 'node:path'
import {cmp, contentVersion} from './file-records.js'
import type {LockRecord} from './records.js'
import {checkPath, checkPrefix, recordText, TopoError, type Entry, type TopoReader, type TopoStore} from './store.js'

/** Every record of a topology except locks, as one JSON document. */
export interface TopoSnapshot {
  format_version: '1'
  exported_at: string
  /** URL of the store it was exported from. */
  source: string
  records: Record<string, unknown>
}

export class SnapshotTopoStore implements TopoReader {
  readonly url: string

  private constructor(
    readonly file: string,
    readonly snapshot: TopoSnapshot,
  ) {
    this.url = `file:${file}`
  }

  get snapshotFile(): string {
    return this.file
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

  async close(): Promise<void> {}

  private entry<T>(path: string): Entry<T> {
    const value = this.snapshot.records[path]
    // Same bytes a file store would hold, so versions match the store the snapshot came from.
    return {path, value: value as T, version: contentVersion(recordText(value))}
  }
}

/** A whole TopoStore over a snapshot: reads from it, every write or lock refused. */
export function readOnlyStore(snap: SnapshotTopoStore): TopoStore {
  const refuse = async (what: string): Promise<never> => {
    throw new TopoError(
      'read_only',
      `cannot ${what}: ${snap.file} is a read-only snapshot of ${snap.snapshot.source} ` +
        `(exported ${snap.snapshot.exported_at}); open the live topology to change it.`,
    )
  }
  return {
    url: snap.url,
    snapshotFile: snap.file,
    get: (path) => snap.get(path),
    list: (prefix) => snap.list(prefix),
    watch: () => snap.watch(),
    readLock: () => snap.readLock(),
    close: () => snap.close(),
    create: () => refuse('create a record'),
    update: () => refuse('update a record'),
    delete: () => refuse('delete a record'),
    commit: () => refuse('commit changes'),
    lock: () => refuse('take a keyspace lock'),
    forceUnlock: () => refuse('remove a lock'),
    hold: () => refuse('hold a record'),
  }
}

// Opening the file backend: a directory is a live store, a .json file an exported snapshot (read-only).
import {stat} from 'node:fs/promises'
import {resolve} from 'node:path'
import {FileTopoStore, type FileTopoOptions} from './file-store.js'
import {readOnlyStore, SnapshotTopoStore} from './snapshot-store.js'
import {TopoError, type TopoStore} from './store.js'

export {FileTopoStore, type FileTopoOptions} from './file-store.js'
export {SnapshotTopoStore, readOnlyStore, type TopoSnapshot} from './snapshot-store.js'
export {contentVersion} from './file-records.js'

/** `file:<dir>` opens a store directory; `file:<snapshot>.json` opens an exported snapshot read-only. */
export async function openFileTopo(location: string, opts: FileTopoOptions = {}): Promise<TopoStore> {
  const abs = resolve(location)
  const st = await stat(abs).catch(() => undefined)
  if (st?.isFile()) return readOnlyStore(await SnapshotTopoStore.open(abs))
  if (!st && abs.endsWith('.json')) {
    throw new TopoError(
      'bad_url',
      `there is no snapshot at ${abs}; export one first, or name a directory for a live store.`,
    )
  }
  return FileTopoStore.open(abs, opts)
}

// Opening a topology by URL, and exporting one as a snapshot file (to plan against it elsewhere, read-only).
import {randomBytes} from 'node:crypto'
import {mkdir, open, rename} from 'node:fs/promises'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import type {EtcdTopoOptions} from './etcd-client.js'
import {parseEtcdUrl} from './etcd-url.js'
import {openFileTopo, type FileTopoOptions} from './file.js'
import type {TopoSnapshot} from './snapshot-store.js'
import {TopoError, type TopoStore} from './store.js'

export const DEFAULT_TOPO_URL = 'file:.shardform/topo'

export type {TopoSnapshot} from './snapshot-store.js'

export type TopoLocation = {kind: 'file'; path: string} | {kind: 'etcd'; url: string}

export interface OpenTopoOptions {
  file?: FileTopoOptions
  etcd?: EtcdTopoOptions
}

const FORMS =
  'use file:<dir> (e.g. file:.shardform/topo), file:<snapshot>.json (read-only), or ' +
  'etcd://host:port[,host:port…]/<root> (e.g. etcd://127.0.0.1:2379/shardform; etcds:// for TLS)'

/** Check a topology URL and say which backend it names; TopoError(bad_url) when it names none. */
export function parseTopoUrl(url: string): TopoLocation {
  if (url.startsWith('etcd://') || url.startsWith('etcds://')) {
    const {hosts, root, tls} = parseEtcdUrl(url, FORMS)
    return {kind: 'etcd', url: `${tls ? 'etcds' : 'etcd'}://${hosts.join(',')}/${root}`}
  }
  if (url.startsWith('file:')) {
    let path = url.slice('file:'.length)
    if (path.startsWith('//')) {
      try {
        path = fileURLToPath(url)
      } catch (e) {
        throw new TopoError('bad_url', `"${url}" is not a valid file URL (${(e as Error).message}); ${FORMS}.`)
      }
    }
    if (path === '') throw new TopoError('bad_url', `"${url}" names no directory; ${FORMS}.`)
    return {kind: 'file', path: resolve(path)}
  }
  throw new TopoError('bad_url', `"${url}" is not a topology URL; ${FORMS}.`)
}

/** Open the topology at `url`, else $SHARDFORM_TOPO, else the local `file:.shardform/topo`. */
export async function openTopo(url?: string, opts: OpenTopoOptions = {}): Promise<TopoStore> {
  const loc = parseTopoUrl(url || process.env.SHARDFORM_TOPO || DEFAULT_TOPO_URL)
  if (loc.kind === 'file') return openFileTopo(loc.path, opts.file)
  const {EtcdTopoStore} = await import('./etcd-store.js')
  return EtcdTopoStore.open(loc.url, opts.etcd)
}

/** Every record except keyspace locks (they belong to running processes, not to the layout). */
export async function exportSnapshot(store: TopoStore): Promise<TopoSnapshot> {
  const records: Record<string, unknown> = {}
  for (const e of await store.list('')) {
    if (!isLockPath(e.path)) records[e.path] = e.value
  }
  return {format_version: '1', exported_at: new Date().toISOString(), source: store.url, records}
}

/** Export `store` to `file` (pretty JSON, written atomically); open it later with `file:<file>`. */
export async function writeSnapshot(store: TopoStore, file: string): Promise<TopoSnapshot> {
  const snap = await exportSnapshot(store)
  const target = resolve(file)
  await mkdir(dirname(target), {recursive: true})
  const tmp = join(dirname(target), `.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w')
  try {
    await fh.writeFile(JSON.stringify(snap, null, 2) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, target)
  return snap
}

function isLockPath(path: string): boolean {
  return /^keyspaces\/[^/]+\/lock$/.test(path)
}

// `topo init`: record a keyspace as it stands today (every shard serving every type).
import {ShardformError} from '../errors.js'
import {deepEqual} from '../util/canonical.js'
import {keyspacePath, shardPath, shardsPrefix, srvKeyspacePath, tabletPath, tabletsPrefix} from '../topo/paths.js'
import {
  TABLET_TYPES,
  type KeyspaceRecord,
  type ShardRecord,
  type SrvKeyspaceRecord,
  type TabletRecord,
} from '../topo/records.js'
import {TopoError, type TopoStore, type TxnOp} from '../topo/store.js'
import {keyspaceRecord, shardRecord, tabletRecord} from './records.js'
import type {Layout} from './types.js'

export interface BootstrapRecords {
  keyspace: KeyspaceRecord
  srvKeyspace: SrvKeyspaceRecord
  shards: ShardRecord[]
  tablets: TabletRecord[]
}

/** The records of a keyspace whose layout is served as declared. Pure. */
export function bootstrapRecords(layout: Layout): BootstrapRecords {
  const names = layout.shards.map((s) => s.name)
  return {
    keyspace: keyspaceRecord(layout.keyspace, layout.database, layout.vschema),
    srvKeyspace: {partitions: {primary: [...names], replica: [...names], rdonly: [...names]}},
    shards: layout.shards.map((s) => shardRecord(s, [...TABLET_TYPES])),
    tablets: layout.shards.flatMap((s) =>
      s.tablets.map((t) => tabletRecord(t, layout.keyspace, s.name, layout.database)),
    ),
  }
}

/** Records per commit: under etcd's --max-txn-ops (ETCD_DEFAULT_MAX_TXN_OPS); 64 shards of three tablets are 256. */
export const INIT_BATCH = 100

/**
 * Write the records of a new keyspace: its shards and tablets in batches, then the keyspace and its SrvKeyspace in
 * one last commit. Until that commit the keyspace does not exist (nothing reads shards of a keyspace without its
 * record), so an interrupted init is run again with the same layout: records it already wrote are taken as they are.
 */
export async function initKeyspace(store: TopoStore, layout: Layout): Promise<void> {
  if (await store.get(keyspacePath(layout.keyspace))) {
    throw new ShardformError(
      `keyspace "${layout.keyspace}" already exists in ${store.url}; topo init only bootstraps a new keyspace. To change it, use: shardform plan ${layout.file}`,
    )
  }
  const recs = bootstrapRecords(layout)
  // Records an interrupted init of this layout left (read in two ranges: a keyspace may have thousands of tablets).
  const existing = new Map<string, unknown>()
  for (const prefix of [shardsPrefix(layout.keyspace), tabletsPrefix()]) {
    for (const e of await store.list(prefix)) existing.set(e.path, e.value)
  }
  const pending: TxnOp[] = []
  for (const s of recs.shards) {
    const path = shardPath(layout.keyspace, s.name)
    const left = existing.get(path)
    if (left === undefined) pending.push({op: 'put', path, value: s, version: null})
    else if (!deepEqual(left, s)) throw leftOver(layout, path)
  }
  for (const t of recs.tablets) {
    const path = tabletPath(t.alias)
    const other = existing.get(path) as TabletRecord | undefined
    if (other === undefined) pending.push({op: 'put', path, value: t, version: null})
    else if (!deepEqual(other, t)) {
      throw new ShardformError(
        `tablet alias "${t.alias}" is already registered (keyspace "${other.keyspace}", shard "${other.shard}"); pick another alias in ${layout.file}`,
      )
    }
  }
  try {
    for (let i = 0; i < pending.length; i += INIT_BATCH) await store.commit(pending.slice(i, i + INIT_BATCH))
    await store.commit([
      {op: 'put', path: srvKeyspacePath(layout.keyspace), value: recs.srvKeyspace, version: null},
      {op: 'put', path: keyspacePath(layout.keyspace), value: recs.keyspace, version: null},
    ])
  } catch (err) {
    if (err instanceof TopoError && err.code === 'conflict') {
      throw new ShardformError(
        `keyspace "${layout.keyspace}" or one of its tablets was created by someone else while topo init ran; the keyspace was not created. See: shardform topo show`,
      )
    }
    throw err
  }
}

function leftOver(layout: Layout, path: string): ShardformError {
  return new ShardformError(
    `${path} exists although keyspace "${layout.keyspace}" does not, and differs from what ${layout.file} declares: it is left from a topo init of another layout that did not finish. Remove the keyspace's leftover records (etcdctl del --prefix /<root>/${shardsPrefix(layout.keyspace)}), then run topo init again`,
  )
}

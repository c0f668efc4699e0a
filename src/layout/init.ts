// `topo init`: record a keyspace as it stands today (every shard serving every type).
import {ShardformError} from '../errors.js'
import {keyspacePath, shardPath, srvKeyspacePath, tabletPath} from '../topo/paths.js'
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

export async function initKeyspace(store: TopoStore, layout: Layout): Promise<void> {
  if (await store.get(keyspacePath(layout.keyspace))) {
    throw new ShardformError(
      `keyspace "${layout.keyspace}" already exists in ${store.url}; topo init only bootstraps a new keyspace. To change it, use: shardform plan ${layout.file}`,
    )
  }
  const recs = bootstrapRecords(layout)
  for (const t of recs.tablets) {
    const existing = await store.get<TabletRecord>(tabletPath(t.alias))
    if (existing) {
      throw new ShardformError(
        `tablet alias "${t.alias}" is already registered (keyspace "${existing.value.keyspace}", shard "${existing.value.shard}"); pick another alias in ${layout.file}`,
      )
    }
  }
  const ops: TxnOp[] = [
    {op: 'put', path: keyspacePath(layout.keyspace), value: recs.keyspace, version: null},
    {op: 'put', path: srvKeyspacePath(layout.keyspace), value: recs.srvKeyspace, version: null},
    ...recs.shards.map((s): TxnOp => ({op: 'put', path: shardPath(layout.keyspace, s.name), value: s, version: null})),
    ...recs.tablets.map((t): TxnOp => ({op: 'put', path: tabletPath(t.alias), value: t, version: null})),
  ]
  try {
    await store.commit(ops)
  } catch (err) {
    if (err instanceof TopoError && err.code === 'conflict') {
      throw new ShardformError(
        `keyspace "${layout.keyspace}" or one of its tablets was created by someone else while topo init ran; nothing was written. See: shardform topo show`,
      )
    }
    throw err
  }
}

// Topology records built from a layout's declarations: used by `topo init` and by create_shards.
import type {VSchema} from '../keyspace/vschema.js'
import type {KeyspaceRecord, ShardRecord, SourceShard, TabletRecord, TabletType} from '../topo/records.js'
import type {ShardSpec, TabletSpec} from './types.js'

export function keyspaceRecord(name: string, database: string, vschema: VSchema): KeyspaceRecord {
  return {name, sharded: vschema.sharded, database, vschema}
}

export function shardRecord(spec: ShardSpec, servedTypes: TabletType[], sourceShards: SourceShard[] = []): ShardRecord {
  return {
    name: spec.name,
    keyRange: spec.keyRange,
    primary: spec.tablets.find((t) => t.type === 'primary')?.alias ?? null,
    servedTypes,
    sourceShards,
    tabletControls: {},
    frozen: false,
  }
}

export function tabletRecord(t: TabletSpec, keyspace: string, shard: string, database: string): TabletRecord {
  return {
    alias: t.alias,
    keyspace,
    shard,
    type: t.type,
    host: t.host,
    port: t.port,
    user: t.user,
    ...(t.passwordEnv ? {passwordEnv: t.passwordEnv} : {}),
    adminUser: t.adminUser,
    ...(t.adminPasswordEnv ? {adminPasswordEnv: t.adminPasswordEnv} : {}),
    database,
    ...(t.tls ? {tls: {...t.tls}} : {}),
  }
}

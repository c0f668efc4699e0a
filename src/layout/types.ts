import type {VSchema} from '../keyspace/vschema.js'
import type {KeyRangeJSON, TabletRecord} from '../topo/records.js'

export type {TlsFiles} from '../topo/records.js'

export type GatePolicy = 'canary' | 'phase' | 'none'

/** A tablet as a layout declares it: the topology's record without what the shard and keyspace already say. */
export type TabletSpec = Omit<TabletRecord, 'keyspace' | 'shard' | 'database'>

export interface ShardSpec {
  name: string
  keyRange: KeyRangeJSON
  tablets: TabletSpec[]
}

export interface ApprovalPolicy {
  default: GatePolicy
  phases: Record<string, GatePolicy>
}

export interface Settings {
  maxReplicationLagSeconds: number
  cutoverTimeoutSeconds: number
  cutoverMaxLagSeconds: number
  diffParallelism: number
  /** clone and diff pause between chunks while a source replica lags more than this (s); 0 = never. */
  throttleReplicaLagSeconds: number
  /** copy_schema creates tables without their secondary keys; they are added after the copy (Vitess's default: off). */
  deferSecondaryKeys: boolean
  /** DDL on a source during filtered replication: stop the stream (default) or run it on the destinations too. */
  onDdl: OnDdl
}

export type OnDdl = 'stop' | 'exec'

export const DEFAULT_SETTINGS: Settings = {
  maxReplicationLagSeconds: 30,
  cutoverTimeoutSeconds: 30,
  cutoverMaxLagSeconds: 5,
  diffParallelism: 2,
  throttleReplicaLagSeconds: 5,
  deferSecondaryKeys: false,
  onDdl: 'stop',
}

/** A validated layout: everything the planner needs, secrets only as env variable names. */
export interface Layout {
  /** The file it was read from, as given. */
  file: string
  keyspace: string
  database: string
  vschema: VSchema
  approvals: ApprovalPolicy
  settings: Settings
  /** Sorted by key range. */
  shards: ShardSpec[]
}

export const TABLET_DEFAULTS = {
  host: '127.0.0.1',
  user: 'app',
  passwordEnv: 'SHARDFORM_MYSQL_PASSWORD',
  adminUser: 'shardform',
  adminPasswordEnv: 'SHARDFORM_ADMIN_PASSWORD',
}

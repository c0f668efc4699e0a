// Topology records: JSON, one shape for every backend. Secrets never enter them: tablets name env variables.
import type {VSchema} from '../keyspace/vschema.js'

export type TabletType = 'primary' | 'replica' | 'rdonly'
export const TABLET_TYPES: readonly TabletType[] = ['primary', 'replica', 'rdonly']

export interface KeyRangeJSON {
  /** Lower-case hex; empty = unbounded. */
  start: string
  end: string
}

export interface KeyspaceRecord {
  name: string
  sharded: boolean
  database: string
  vschema: VSchema
}

export interface SourceShard {
  keyspace: string
  shard: string
  keyRange: KeyRangeJSON
}

export interface ShardRecord {
  name: string
  keyRange: KeyRangeJSON
  /** Alias of the primary tablet. */
  primary: string | null
  /** Tablet types this shard serves (mirrors its place in SrvKeyspace). */
  servedTypes: TabletType[]
  /** For a destination shard during a reshard: where its data comes from. */
  sourceShards: SourceShard[]
  /** Per tablet type: queries the shard refuses (e.g. writes on a frozen source). */
  tabletControls: Partial<Record<TabletType, {frozen?: boolean; reason?: string}>>
  /** Set on source shards once primary writes have moved away. */
  frozen: boolean
}

export interface SrvKeyspaceRecord {
  partitions: Record<TabletType, string[]>
}

export interface TabletRecord {
  alias: string
  keyspace: string
  shard: string
  type: TabletType
  host: string
  port: number
  /** The application's user (DML/DDL on the database only). */
  user: string
  passwordEnv?: string
  /** shardform's own user (binlog, read_only, schema). */
  adminUser: string
  adminPasswordEnv?: string
  database: string
  /** TLS for MySQL connections to the tablet: paths of PEM files, never their contents. */
  tls?: TlsFiles
}

/** TLS settings of a tablet's MySQL connections (paths of PEM files; the files are read when connecting). */
export interface TlsFiles {
  /** CA certificate(s) that sign the server's certificate. */
  ca?: string
  /** Client certificate (with key): for users created REQUIRE X509 / SUBJECT. */
  cert?: string
  key?: string
  /** Check the server certificate against the CA and the host name (default true). */
  verifyServerCert?: boolean
}

export interface LockRecord {
  id: string
  /** user@host pid N */
  who: string
  operation: string
  created: string
  /** Where the holder runs (absent in records written before these fields): lets a lock of a dead holder go. */
  hostname?: string
  pid?: number
  /** The holder's process start time (util/process processStartTime): tells a reused pid apart. */
  pidStart?: string
  /** The `shardform server` holding it (a server's claim on the keyspace's workflow). */
  server?: string
}

// The router's public shapes: its options, where a row goes, what an execute() returns, what it knows.
import type {FieldPacket, PoolOptions} from 'mysql2/promise'
import type {Role} from '../mysql/connect.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord, TabletType} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'

export const DEFAULT_BUFFER_WINDOW_MS = 10_000

export interface RouterOptions {
  /** An open topology store (left open by close()), or … */
  store?: TopoStore
  /** … a topology URL to open (closed by close()). Default: $SHARDFORM_TOPO, else file:.shardform/topo. */
  topoUrl?: string
  keyspace: string
  /** How long a write refused by a read-only shard (or an unreachable tablet) is held before its error surfaces. */
  bufferWindowMs?: number
  /** While a write is held, retry at least this often even without a topology change (ms, default 250). */
  retryIntervalMs?: number
  /** Which user the pools log in as (default: the application user). */
  role?: Role
  /** Connections per tablet (default 8). */
  connectionLimit?: number
  /** Extra mysql2 pool options. */
  poolOptions?: PoolOptions
}

/** Where one row goes. */
export interface RouteTarget {
  keyspace: string
  table: string
  /** null for unsharded keyspaces and reference tables. */
  keyspaceId: Buffer | null
  shard: string
  /** The type asked for. */
  tabletType: TabletType
  /** The tablet chosen (a primary when the shard has no tablet of the type asked for). */
  tablet: TabletRecord
  /** Topology generation the decision was made on. */
  generation: number
}

export interface ExecuteOptions {
  tabletType?: TabletType
  /** Override the router's buffer window for this call (ms). */
  bufferWindowMs?: number
}

export interface ExecuteResult<T = unknown> {
  rows: T
  fields?: FieldPacket[]
  target: RouteTarget
  /** How long the statement was held by the buffer (0 when it went through at once). */
  bufferedMs: number
  attempts: number
}

/** What the router knows of the keyspace: re-read as a whole on every change. */
export interface RoutingSnapshot {
  generation: number
  keyspace: KeyspaceRecord
  srvKeyspace: SrvKeyspaceRecord
  shards: ShardRecord[]
  tablets: TabletRecord[]
}

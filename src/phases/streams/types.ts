// What a filtered replication stream is (its spec) and what it reports (its status).
import type {KeyRange} from '../../keyspace/keyrange.js'
import type {VSchema} from '../../keyspace/vschema.js'
import type {OnDdl} from '../../layout/types.js'
import type {TabletRecord} from '../../topo/records.js'
import type {ShardRange} from '../routing.js'

export interface StreamSpec {
  id: string
  workflow: string
  database: string
  sourceShard: string
  /** The source shard's primary: where the binlog is read. */
  source: TabletRecord
  destinationShard: string
  /** The destination shard's primary: where rows are applied. */
  destination: TabletRecord
  destRange: KeyRange
  /** Every destination of the group (placement: single destination vs. by vindex). */
  groupDestinations: ShardRange[]
  vschema: VSchema
  /** Reference tables are replicated from one source of a group only. */
  referenceTables: boolean
  /** DDL on the source: stop the stream (default), or run it on the destination and continue. */
  onDdl?: OnDdl
  /** The applier's owner token (default: this process run's). */
  owner?: string
}

/** fenced: another applier took the stream over; this one applies nothing more of it. */
export type StreamState = 'starting' | 'running' | 'paused' | 'stopped' | 'failed' | 'fenced'

export interface StreamStatus {
  id: string
  source: string
  destination: string
  state: StreamState
  position: string
  sourcePosition?: string
  eventsBehind?: number
  /** Lag in ms: from the source's heartbeats once one was applied (else from binlog commit times, to the second). */
  lagMs?: number
  /** What lagMs was measured from: the source's heartbeats, or (none applied yet) binlog commit times. */
  lagFrom?: 'heartbeat' | 'commit_time'
  /** lagMs in seconds (kept for readers of older records). */
  lagSeconds?: number
  transactions: number
  rowChanges: number
  error?: string
  /** The `shardform server` running the stream (absent when an apply runs it). */
  server?: string
}

/**
 * The lag (s) a limit is checked against: none once the stream has applied all the source had at the last poll (a
 * heartbeat's few ms of transit are not a backlog; a limit of 0 means "caught up").
 */
export function limitLag(st: StreamStatus): number | undefined {
  return st.eventsBehind === 0 ? 0 : st.lagSeconds
}

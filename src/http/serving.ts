// The serving map of a keyspace, for the API and its event stream: per tablet type which shard serves which key range,
// and every shard with its range, what it serves and its tablets (endpoints only: no user, no password variable).
import {compareBytes, keyRangeFromJSON} from '../keyspace/keyrange.js'
import {
  TABLET_TYPES,
  type KeyspaceRecord,
  type ShardRecord,
  type SrvKeyspaceRecord,
  type TabletRecord,
  type TabletType,
} from '../topo/records.js'

export const SERVING_FORMAT_VERSION = '1'

export interface ServingTablet {
  alias: string
  type: TabletType
  host: string
  port: number
}

export interface ServingShard {
  name: string
  /** Lower-case hex, "" = unbounded (Vitess's key range JSON). */
  start: string
  end: string
  serving: TabletType[]
  primary: string | null
  frozen: boolean
  /** Set on a destination shard during a reshard: the shards its rows come from. */
  source_shards: string[]
  tablets: ServingTablet[]
}

export interface ServingMap {
  format_version: string
  keyspace: string
  sharded: boolean
  /** Per tablet type, the shards serving it in key order: a query for a key goes to the one whose range holds it. */
  serving: Record<TabletType, Array<{shard: string; start: string; end: string}>>
  shards: ServingShard[]
}

export interface ServingRecords {
  keyspace: KeyspaceRecord
  srvKeyspace: SrvKeyspaceRecord
  shards: ShardRecord[]
  tablets: TabletRecord[]
}

const byStart = (a: ShardRecord, b: ShardRecord) =>
  compareBytes(keyRangeFromJSON(a.keyRange).start, keyRangeFromJSON(b.keyRange).start) ||
  a.keyRange.end.localeCompare(b.keyRange.end) ||
  a.name.localeCompare(b.name)

export function servingMap(r: ServingRecords): ServingMap {
  const shards = [...r.shards].sort(byStart)
  const parts = r.srvKeyspace.partitions
  const serving = Object.fromEntries(
    TABLET_TYPES.map((t) => [
      t,
      shards
        .filter((s) => parts[t]?.includes(s.name))
        .map((s) => ({shard: s.name, start: s.keyRange.start, end: s.keyRange.end})),
    ]),
  ) as ServingMap['serving']
  return {
    format_version: SERVING_FORMAT_VERSION,
    keyspace: r.keyspace.name,
    sharded: r.keyspace.sharded,
    serving,
    shards: shards.map((s) => ({
      name: s.name,
      start: s.keyRange.start,
      end: s.keyRange.end,
      serving: TABLET_TYPES.filter((t) => parts[t]?.includes(s.name)),
      primary: s.primary,
      frozen: s.frozen,
      source_shards: (s.sourceShards ?? []).map((x) => x.shard),
      tablets: r.tablets
        .filter((t) => t.shard === s.name)
        .sort((a, b) => TABLET_TYPES.indexOf(a.type) - TABLET_TYPES.indexOf(b.type) || a.alias.localeCompare(b.alias))
        .map(({alias, type, host, port}) => ({alias, type, host, port})),
    })),
  }
}

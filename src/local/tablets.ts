// The tablets of the local cluster: the topology's tablet record, as much of it as a mariadbd needs. Passwords are
// never part of it: a tablet names the variables that hold them (passwordEnv, adminPasswordEnv), like its record.
import {ShardformError} from '../errors.js'
import type {Layout} from '../layout/types.js'
import {tabletRecord} from '../layout/records.js'
import type {TabletRecord} from '../topo/records.js'

/** Where a tablet sits: keyspace, shard, role, port, database. */
export type TabletPlace = Pick<TabletRecord, 'alias' | 'keyspace' | 'shard' | 'type' | 'port' | 'database'>

/**
 * A tablet to run: its place, and optionally host (only 127.0.0.1 or localhost: the local cluster listens on
 * loopback only), users (defaults: the cluster's) and the names of its password variables.
 */
export type ClusterTablet = TabletPlace &
  Partial<Pick<TabletRecord, 'host' | 'user' | 'adminUser' | 'passwordEnv' | 'adminPasswordEnv'>>

/** The place of a tablet (of a record, a process, a state entry), nothing else. */
export function placeOf(t: TabletPlace): TabletPlace {
  return {alias: t.alias, keyspace: t.keyspace, shard: t.shard, type: t.type, port: t.port, database: t.database}
}

/**
 * One tablet record per layout declaration; several layouts may list the same keyspace (old and new shards), and
 * the same tablet, when they declare it alike.
 */
export function tabletsFromLayouts(layouts: Layout[]): TabletRecord[] {
  const out = new Map<string, TabletRecord & {from: string}>()
  for (const l of layouts) {
    for (const s of l.shards) {
      for (const t of s.tablets) {
        const tab = {...tabletRecord(t, l.keyspace, s.name, l.database), from: l.file}
        const prev = out.get(t.alias)
        if (prev) {
          const same =
            prev.keyspace === tab.keyspace &&
            prev.shard === tab.shard &&
            prev.port === tab.port &&
            prev.type === tab.type &&
            prev.database === tab.database
          if (!same)
            throw new ShardformError(
              `tablet ${t.alias} is declared differently in ${prev.from} and ${l.file}; an alias names one tablet`,
            )
          continue
        }
        out.set(t.alias, tab)
      }
    }
  }
  return [...out.values()].map(({from: _from, ...t}) => t)
}

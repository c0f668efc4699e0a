// A readable view of keyspaces for `topo show` (and `status`): shards with ranges and serving types, tablets.
import {sortShardNames} from '../keyspace/keyrange.js'
import type {VSchema} from '../keyspace/vschema.js'
import {isFinishedWorkflow, readKeyspaceRecords} from './keyspace-records.js'
import type {TabletRecord, TabletType} from './records.js'
import type {TopoStore} from './store.js'

export interface KeyspaceView {
  name: string
  sharded: boolean
  database: string
  /** The vschema the router uses now (as stored, Vitess JSON shape). */
  vschema: VSchema
  workflow?: string
  shards: Array<{name: string; range: string; serving: TabletType[]; primary: string | null; state: string}>
  tablets: Array<Pick<TabletRecord, 'alias' | 'shard' | 'type' | 'host' | 'port' | 'user'>>
}

export async function listKeyspaces(store: TopoStore): Promise<string[]> {
  const entries = await store.list('keyspaces/')
  return [...new Set(entries.filter((e) => e.path.endsWith('/Keyspace')).map((e) => e.path.split('/')[1]))].sort()
}

export async function describeKeyspaces(store: TopoStore, only?: string): Promise<KeyspaceView[]> {
  const names = only ? [only] : await listKeyspaces(store)
  const views: KeyspaceView[] = []
  for (const name of names) {
    const st = await readKeyspaceRecords(store, name)
    if (!st) continue
    const wf = st.workflows.find((w) => !isFinishedWorkflow(w))
    const order = sortShardNames(st.shards.map((s) => s.name))
    views.push({
      name,
      sharded: st.keyspace.sharded,
      database: st.keyspace.database,
      vschema: st.keyspace.vschema,
      ...(wf ? {workflow: `${wf.id} (${wf.state})`} : {}),
      shards: order.map((n) => {
        const s = st.shards.find((x) => x.name === n)!
        const serving = (['primary', 'replica', 'rdonly'] as TabletType[]).filter((t) =>
          st.srvKeyspace.partitions[t]?.includes(n),
        )
        const state = s.frozen
          ? 'frozen (writes moved away)'
          : serving.length
            ? 'serving'
            : s.sourceShards.length
              ? 'not serving (destination)'
              : 'not serving'
        return {
          name: n,
          range: `${s.keyRange.start || 'min'}..${s.keyRange.end || 'max'}`,
          serving,
          primary: s.primary,
          state,
        }
      }),
      tablets: st.tablets
        .map(({alias, shard, type, host, port, user}) => ({alias, shard, type, host, port, user}))
        .sort((a, b) => order.indexOf(a.shard) - order.indexOf(b.shard) || a.alias.localeCompare(b.alias)),
    })
  }
  return views
}

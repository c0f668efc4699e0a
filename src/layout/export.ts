// The other way round: a keyspace as the topology holds it → layout YAML, so that planning the result changes nothing.
// Pure. Only environment variable names are written, never passwords (the topology holds no passwords anyway).
import {sortShardNames} from '../keyspace/keyrange.js'
import {ShardformError} from '../errors.js'
import type {KeyspaceRecords} from '../topo/keyspace-records.js'
import type {TabletRecord, TabletType} from '../topo/records.js'
import {canonicalJSON} from '../util/canonical.js'
import {yamlPackage} from '../util/lazy.js'

/** Tablet fields the layout can set once under `defaults` when every tablet agrees. */
const SHARED = ['host', 'user', 'passwordEnv', 'adminUser', 'adminPasswordEnv', 'tls'] as const
type Shared = (typeof SHARED)[number]
const TYPE_ORDER: Record<TabletType, number> = {primary: 0, replica: 1, rdonly: 2}

/** What an export reads: the keyspace's records and its unfinished workflows (the planner's KeyspaceState fits). */
export type KeyspaceState = Pick<KeyspaceRecords, 'keyspace' | 'srvKeyspace' | 'tablets'> & {
  activeWorkflows: Array<{id: string; state: string}>
}

export interface ExportOptions {
  /** Where the records came from, for the header comment (e.g. the topology URL). */
  source?: string
}

/** The layout object (before YAML): keyspace, database, vschema inline, defaults, the serving shards and tablets. */
export function layoutObject(state: KeyspaceState): Record<string, unknown> {
  const ks = state.keyspace
  const wf = state.activeWorkflows[0]
  if (wf)
    throw new ShardformError(
      `keyspace "${ks.name}" has a workflow in progress (${wf.id}, ${wf.state}); its layout is between two layouts`,
      {
        code: 'layout.export',
        hint: `Finish or revert it first (shardform status ${ks.name}), then export again.`,
      },
    )
  const serving = sortShardNames(state.srvKeyspace.partitions.primary)
  const tablets = state.tablets.filter((t) => serving.includes(t.shard))
  const defaults: Record<string, unknown> = {}
  const shared = new Set<Shared>()
  for (const k of SHARED) {
    const values = new Set(tablets.map((t) => canonicalJSON(t[k] ?? null)))
    const first = tablets[0]?.[k]
    if (values.size === 1 && first !== undefined) {
      defaults[k] = first
      shared.add(k)
    }
  }
  const tabletObject = (t: TabletRecord) => {
    const o: Record<string, unknown> = {alias: t.alias, type: t.type}
    if (!shared.has('host')) o.host = t.host
    o.port = t.port
    for (const k of SHARED) if (k !== 'host' && !shared.has(k) && t[k] !== undefined) o[k] = t[k]
    return o
  }
  const shards: Record<string, unknown> = {}
  for (const name of serving) {
    const own = tablets
      .filter((t) => t.shard === name)
      .sort((a, b) => TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || a.alias.localeCompare(b.alias))
    shards[name] = {tablets: own.map(tabletObject)}
  }
  return {
    keyspace: ks.name,
    database: ks.database,
    vschema: ks.vschema,
    ...(Object.keys(defaults).length ? {defaults} : {}),
    shards,
  }
}

/** The layout YAML text of a keyspace: tablets one per line, as in plans/guestbook. */
export function exportLayout(state: KeyspaceState, opts: ExportOptions = {}): string {
  const YAML = yamlPackage()
  const doc = new YAML.Document(layoutObject(state))
  YAML.visit(doc, {
    Pair(_key, pair) {
      // Tablets and column vindexes as flow maps ({ alias: …, type: … }), vindexes too: short and diff-friendly.
      const key = YAML.isScalar(pair.key) ? String(pair.key.value) : ''
      if ((key === 'tablets' || key === 'column_vindexes') && YAML.isSeq(pair.value))
        for (const item of pair.value.items) if (YAML.isMap(item)) item.flow = true
      if (key === 'vindexes' && YAML.isMap(pair.value))
        for (const v of pair.value.items) if (YAML.isMap(v.value)) v.value.flow = true
    },
  })
  const from = opts.source ? ` from ${opts.source}` : ''
  doc.commentBefore = ` Keyspace ${state.keyspace.name} as the topology holds it${from} (shardform layout export).\n Passwords are not here: tablets name the environment variables that hold them.`
  return doc.toString({lineWidth: 0, flowCollectionPadding: true})
}

// One keyspace's records as the topology holds them, read together (planning, `topo show`).
import {keyspacePath, shardsPrefix, srvKeyspacePath, tabletsPrefix, workflowsPrefix} from './paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord} from './records.js'
import type {TopoStore} from './store.js'

/** What the topology itself reads of a workflow record: whose it is and its state. The rest is the engine's. */
export interface WorkflowHeader {
  id: string
  keyspace: string
  state: string
  createdAt?: string
  /** How records written before the fields became camelCase name it. */
  created_at?: string
}

export interface KeyspaceRecords<W extends WorkflowHeader = WorkflowHeader> {
  keyspace: KeyspaceRecord
  shards: ShardRecord[]
  srvKeyspace: SrvKeyspaceRecord
  tablets: TabletRecord[]
  /** Every tablet registered in the topology, any keyspace (alias and endpoint clashes). */
  allTablets: TabletRecord[]
  /** The keyspace's workflow records, finished or not, as stored (W: the fields the caller reads of them). */
  workflows: W[]
}

/** A workflow in a terminal state (done or cancelled) holds nothing of its keyspace any more. */
export function isFinishedWorkflow(w: WorkflowHeader): boolean {
  return w.state === 'done' || w.state === 'cancelled'
}

export async function readKeyspaceRecords<W extends WorkflowHeader = WorkflowHeader>(
  store: TopoStore,
  keyspace: string,
): Promise<KeyspaceRecords<W> | undefined> {
  const ks = await store.get<KeyspaceRecord>(keyspacePath(keyspace))
  if (!ks) return undefined
  const [shards, srv, tablets, workflows] = await Promise.all([
    store.list<ShardRecord>(shardsPrefix(keyspace)),
    store.get<SrvKeyspaceRecord>(srvKeyspacePath(keyspace)),
    store.list<TabletRecord>(tabletsPrefix()),
    store.list<W>(workflowsPrefix()),
  ])
  const allTablets = tablets.map((e) => e.value)
  return {
    keyspace: ks.value,
    shards: shards.filter((e) => e.path.endsWith('/Shard')).map((e) => e.value),
    srvKeyspace: srv?.value ?? {partitions: {primary: [], replica: [], rdonly: []}},
    tablets: allTablets.filter((t) => t.keyspace === keyspace),
    allTablets,
    workflows: workflows
      .filter((e) => e.path.endsWith('/Workflow') && e.value.keyspace === keyspace)
      .map((e) => e.value),
  }
}

// One keyspace as the topology holds it now: the planner's input, and what a saved plan's fingerprint covers.
import {canonicalJSON, sha256} from '../util/canonical.js'
import {keyspacePath, shardsPrefix, srvKeyspacePath, tabletsPrefix, workflowsPrefix} from './paths.js'
import type {KeyspaceRecord, ShardRecord, SrvKeyspaceRecord, TabletRecord} from './records.js'
import type {TopoStore} from './store.js'

/** What the planner needs to know of a workflow that has not finished. */
export interface ActiveWorkflow {
  id: string
  state: string
  /** The layout file the workflow is applying. */
  layoutFile: string
  /** Name of the phase running or next to run. */
  phase?: string
  /** Its plan and the state of each task (a revert of its layout depends on how far it got). */
  plan?: WorkflowLike['plan']
  tasks?: Record<string, {state: string; attempts?: number}>
}

export interface KeyspaceState {
  keyspace: KeyspaceRecord
  shards: ShardRecord[]
  srvKeyspace: SrvKeyspaceRecord
  tablets: TabletRecord[]
  /** Every tablet registered in the topology, any keyspace (alias and endpoint clashes). */
  allTablets: TabletRecord[]
  activeWorkflows: ActiveWorkflow[]
  /** The most recent finished workflow of the keyspace (not part of the fingerprint). */
  lastFinished?: ActiveWorkflow
}

const FINISHED = new Set(['done', 'cancelled'])

function summary(w: WorkflowLike): ActiveWorkflow {
  return {
    id: w.id,
    state: w.state,
    layoutFile: w.plan?.desired?.file ?? '',
    phase: w.currentPhase,
    plan: w.plan,
    tasks: w.tasks,
  }
}

interface WorkflowLike {
  id: string
  keyspace: string
  state: string
  plan?: import('../plan/types.js').Plan
  currentPhase?: string
  tasks?: Record<string, {state: string; attempts?: number}>
}

export async function readKeyspaceState(store: TopoStore, keyspace: string): Promise<KeyspaceState | undefined> {
  const ks = await store.get<KeyspaceRecord>(keyspacePath(keyspace))
  if (!ks) return undefined
  const [shards, srv, tablets, workflows] = await Promise.all([
    store.list<ShardRecord>(shardsPrefix(keyspace)),
    store.get<SrvKeyspaceRecord>(srvKeyspacePath(keyspace)),
    store.list<TabletRecord>(tabletsPrefix()),
    store.list<WorkflowLike>(workflowsPrefix()),
  ])
  const allTablets = tablets.map((e) => e.value)
  const mine = workflows
    .filter((e) => e.path.endsWith('/Workflow') && e.value.keyspace === keyspace)
    .map((e) => e.value)
  const finished = mine
    .filter((w) => FINISHED.has(w.state))
    .sort((a, b) =>
      String((a as {created_at?: string}).created_at ?? '').localeCompare(
        String((b as {created_at?: string}).created_at ?? ''),
      ),
    )
  const last = finished[finished.length - 1]
  return {
    keyspace: ks.value,
    shards: shards.filter((e) => e.path.endsWith('/Shard')).map((e) => e.value),
    srvKeyspace: srv?.value ?? {partitions: {primary: [], replica: [], rdonly: []}},
    tablets: allTablets.filter((t) => t.keyspace === keyspace),
    allTablets,
    activeWorkflows: workflows
      .filter((e) => e.path.endsWith('/Workflow'))
      .map((e) => e.value)
      .filter((w) => w.keyspace === keyspace && !FINISHED.has(w.state))
      .map(summary),
    ...(last ? {lastFinished: summary(last)} : {}),
  }
}

/**
 * The records a plan depends on, in a stable form. Workflow progress is left out (only which workflows exist), and
 * so are other keyspaces' tablets: a clash with one of those is caught again when create_shards registers tablets.
 */
export function fingerprintInput(state: KeyspaceState | undefined): unknown {
  if (!state) return null
  return {
    keyspace: state.keyspace,
    shards: [...state.shards].sort((a, b) => a.name.localeCompare(b.name)),
    srvKeyspace: state.srvKeyspace,
    tablets: [...state.tablets].sort((a, b) => a.alias.localeCompare(b.alias)),
    workflows: state.activeWorkflows.map((w) => w.id).sort(),
  }
}

export function fingerprint(state: KeyspaceState | undefined): string {
  return sha256(canonicalJSON(fingerprintInput(state))).slice(0, 16)
}

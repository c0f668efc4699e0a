// One keyspace as the topology holds it now: the planner's input, and what a saved plan's fingerprint covers.
import {
  isFinishedWorkflow,
  readKeyspaceRecords,
  type KeyspaceRecords,
  type WorkflowHeader,
} from '../topo/keyspace-records.js'
import type {TopoStore} from '../topo/store.js'
import {canonicalJSON, sha256} from '../util/canonical.js'
import type {Plan} from './types.js'

/** What the planner needs to know of a workflow that has not finished. */
export interface ActiveWorkflow {
  id: string
  state: string
  /** The layout file the workflow is applying. */
  layoutFile: string
  /** Name of the phase running or next to run. */
  phase?: string
  /** Its plan and the state of each task (a revert of its layout depends on how far it got). */
  plan?: Plan
  tasks?: Record<string, {state: string; attempts?: number}>
}

export interface KeyspaceState extends Omit<KeyspaceRecords, 'workflows'> {
  activeWorkflows: ActiveWorkflow[]
  /** The most recent finished workflow of the keyspace (not part of the fingerprint). */
  lastFinished?: ActiveWorkflow
}

/** The fields the planner reads of the engine's workflow record. */
interface WorkflowLike extends WorkflowHeader {
  plan?: Plan
  currentPhase?: string
  tasks?: Record<string, {state: string; attempts?: number}>
}

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

function createdAt(w: WorkflowLike): string {
  return w.createdAt ?? w.created_at ?? ''
}

export async function readKeyspaceState(store: TopoStore, keyspace: string): Promise<KeyspaceState | undefined> {
  const records = await readKeyspaceRecords<WorkflowLike>(store, keyspace)
  if (!records) return undefined
  const {workflows, ...topology} = records
  const finished = workflows.filter(isFinishedWorkflow).sort((a, b) => createdAt(a).localeCompare(createdAt(b)))
  const last = finished[finished.length - 1]
  return {
    ...topology,
    activeWorkflows: workflows.filter((w) => !isFinishedWorkflow(w)).map(summary),
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

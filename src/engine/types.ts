// The apply engine's data: the workflow record kept in the topology, and the executor interface phases plug into.
import type {Plan, PlanPhase, PlanTask, PhaseName} from '../plan/types.js'
import type {KeyspaceState} from '../plan/keyspace-state.js'
import type {TopoStore, TxnOp} from '../topo/store.js'
import type {Cohort} from './cohorts.js'

// ---- executors (what the data plane implements)

export interface TaskContext {
  store: TopoStore
  keyspace: string
  workflowId: string
  plan: Plan
  phase: PlanPhase
  task: PlanTask
  /** 1 on first run. */
  attempt: number
  /** A previous attempt of this task started (crash, Ctrl-C, retry): continue, don't restart blindly. */
  resuming: boolean
  /** Last saved checkpoint of this task. */
  checkpoint<T>(): T | undefined
  /** CAS-written into the task's state in the workflow record before resolving. */
  saveCheckpoint(data: unknown): Promise<void>
  /** Throttled (≤ 1 write/s), also rendered live on a TTY. */
  progress(p: TaskProgress): void
  /** An event in the audit trail. */
  log(message: string): void
  /** Outputs of earlier tasks (e.g. clone's stream start positions). */
  output(taskId: string): Record<string, unknown> | undefined
  /** Apply is stopping (Ctrl-C, lock lost): stop at a safe point and throw. */
  signal: AbortSignal
  /**
   * Has another run of this task taken it over (a newer attempt, or another server's claim)? Then this run must leave
   * shared state (a stopped rdonly) to the new one.
   */
  superseded?(): Promise<boolean>
  /** Runtime-provided shared services (the data plane's stream manager). */
  services: unknown
  /** The tasks of this phase and group started together with this one (cohorts.ts): they may share work. */
  cohort?: Cohort
}

export interface TaskProgress {
  done?: number
  total?: number
  unit?: string
  rate?: number
  etaSeconds?: number
  lagSeconds?: number
  /** Lag in ms (shown instead of lagSeconds when set). */
  lagMs?: number
  lagEvents?: number
  message?: string
}

export interface TaskResult {
  /** Topology writes committed in ONE transaction with the task's transition to done (exactly once). */
  ops?: TxnOp[]
  output?: Record<string, unknown>
}

export type Executor = (ctx: TaskContext) => Promise<TaskResult | void>

export interface Runtime {
  executors: Partial<Record<PhaseName, Executor>>
  /** Called once per apply run after the lock is taken and the workflow loaded (e.g. restart replication streams); returns the services object. */
  start?(wf: WorkflowRecord, store: TopoStore, signal: AbortSignal): Promise<unknown>
  stop?(): Promise<void>
  /** Before resuming: problems that mean the topology no longer matches what the workflow expects (empty = fine). */
  check?(wf: WorkflowRecord, state: KeyspaceState): string[]
}

// ---- the workflow record: workflows/<id>/Workflow (stored camelCase; older snake_case records: see record.ts)

export type WorkflowState = 'running' | 'waiting' | 'paused' | 'failed' | 'done' | 'cancelled'
export type TaskStateName = 'pending' | 'waiting_approval' | 'running' | 'done' | 'failed'
export type GateStageName = 'first' | 'rest' | 'all'

export interface TaskRun {
  attempt: number
  startedAt: string
  /** user@host pid N of the apply that ran it. */
  by: string
  finishedAt?: string
  result?: 'done' | 'failed' | 'interrupted'
  error?: string
}

export interface TaskState {
  id: string
  phase: PhaseName
  shard: string
  state: TaskStateName
  /** How many times the task was started (interrupted runs count). */
  attempts: number
  /** The last runs, oldest first (at most RUNS_KEPT). */
  runs?: TaskRun[]
  error?: string
  startedAt?: string
  finishedAt?: string
  progress?: TaskProgress & {at: string}
  checkpoint?: unknown
  checkpointAt?: string
  output?: Record<string, unknown>
  /** A task handed out as a work item (task-items.ts): the claimant running it now; only it may write checkpoints. */
  runner?: string
}

export interface Approval {
  /** `<phase>:first` | `<phase>:rest` | `<phase>:all` */
  gate: string
  tasks: string[]
  by: string
  at: string
  /** approve: the CLI command; api: the HTTP API of `shardform server --listen` (by = the token's name). */
  via: 'tty' | 'approve' | 'auto-approve' | 'api'
}

export type EventType =
  | 'created'
  | 'resumed'
  | 'phase_started'
  | 'phase_done'
  | 'task_started'
  | 'task_done'
  | 'task_failed'
  | 'task_interrupted'
  | 'waiting'
  | 'approved'
  | 'retry'
  | 'log'
  | 'stopped'
  | 'failed'
  | 'done'
  | 'check_failed'
  | 'force_unlock'
  | 'cancelled'

export interface WorkflowEvent {
  at: string
  who: string
  type: EventType
  task?: string
  phase?: string
  message: string
}

export interface WorkflowSource {
  kind: 'layout' | 'plan-file'
  /** The layout or plan file, as given on the command line. */
  file: string
  /** The saved plan's checksum (plan-file only): `apply` of the same file resumes this workflow. */
  checksum?: string
}

export interface WorkflowRecord {
  id: string
  keyspace: string
  kind: Plan['kind']
  state: WorkflowState
  /** The phase running or next to run. */
  currentPhase?: PhaseName
  plan: Plan
  source: WorkflowSource
  tasks: Record<string, TaskState>
  approvals: Approval[]
  /** Append-only audit trail. */
  events: WorkflowEvent[]
  createdAt: string
  createdBy: string
  updatedAt: string
  finishedAt?: string
  /** Set on every write: lets a writer whose write timed out tell whether it landed. */
  writeId?: string
}

export const FINISHED_STATES: ReadonlySet<WorkflowState> = new Set(['done', 'cancelled'])
export const RUNS_KEPT = 20

export function isFinished(wf: Pick<WorkflowRecord, 'state'>): boolean {
  return FINISHED_STATES.has(wf.state)
}

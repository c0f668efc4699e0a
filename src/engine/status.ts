// `status` and `history`: what the workflow records say, as a tree (phases → tasks) with open gates and failures.
import type {PlanPhase} from '../plan/types.js'
import {workflowPath, workflowStreamsPath} from '../topo/paths.js'
import {handedOutTasks} from './task-items.js'
import {mergeItemStreams} from './work-items.js'
import type {LockRecord} from '../topo/records.js'
import type {TopoStore} from '../topo/store.js'
import {readWorkflowEntry} from './record.js'
import {listWorkflows} from './select.js'
import {isFinished, type TaskProgress, type TaskStateName, type WorkflowEvent, type WorkflowRecord} from './types.js'
import {
  approveCommand,
  currentPhase,
  describeStage,
  isApproved,
  openGate,
  resumeCommand,
  retryCommand,
  type CommandHints,
} from './workflow.js'

export const STATUS_FORMAT_VERSION = '1'

export interface TaskStatus {
  id: string
  shard: string
  state: TaskStateName
  attempts: number
  approved: boolean
  started_at?: string
  finished_at?: string
  error?: string
  progress?: TaskProgress & {at?: string}
  retry_command?: string
  /** The `shardform server` running the task as a work item (absent when its driver runs it). */
  server?: string
}

export type PhaseStatusName = 'done' | 'running' | 'waiting' | 'failed' | 'pending'

export interface PhaseStatus {
  name: string
  mode: PlanPhase['mode']
  gate: PlanPhase['gate']
  state: PhaseStatusName
  tasks: TaskStatus[]
}

export interface WorkflowStatus {
  id: string
  keyspace: string
  kind: string
  state: WorkflowRecord['state']
  finished: boolean
  layout: string
  source: WorkflowRecord['source']
  created_at: string
  created_by: string
  updated_at: string
  finished_at?: string
  current_phase?: string
  /** The keyspace lock (unfinished workflows): held by the apply running it, if any. */
  lock: LockRecord | null
  /** Recorded as running or waiting, but no apply holds the lock: it stopped (crash, Ctrl-C). */
  stopped: boolean
  resume_command?: string
  phases: PhaseStatus[]
  waiting: {
    phase: string
    stage: string
    gate: string
    tasks: string[]
    description: string
    command: string
    /** When the workflow recorded that it waits at this gate (absent before the runner reached it). */
    since?: string
  } | null
  failures: Array<{task: string; phase: string; error: string; attempts: number; retry_command: string}>
  tasks: {total: number; done: number; running: number; failed: number}
  /** Filtered replication as last published by the apply running the workflow (absent: none yet). */
  streams?: StreamsStatus
}

export interface StreamsStatus {
  updated_at: string
  streams: Array<{
    id: string
    source: string
    destination: string
    state: string
    position: string
    /** From the source's heartbeats (ms); absent in records of older versions. */
    lagMs?: number
    lagFrom?: string
    lagSeconds?: number
    eventsBehind?: number
    transactions: number
    rowChanges: number
    error?: string
    /** The `shardform server` running the stream (absent when an apply runs it). */
    server?: string
  }>
}

export function workflowStatus(wf: WorkflowRecord, lock: LockRecord | undefined, hints?: CommandHints): WorkflowStatus {
  const cur = currentPhase(wf)
  const gate = openGate(wf)
  const finished = isFinished(wf)
  const phases: PhaseStatus[] = wf.plan.phases.map((ph) => {
    const tasks: TaskStatus[] = ph.tasks.map((t) => {
      const s = wf.tasks[t.id]
      const state = s?.state ?? 'pending'
      return {
        id: t.id,
        shard: t.shard,
        state,
        attempts: s?.attempts ?? 0,
        approved: ph.gate === 'none' || isApproved(wf, t.id),
        ...(s?.startedAt ? {started_at: s.startedAt} : {}),
        ...(s?.finishedAt ? {finished_at: s.finishedAt} : {}),
        ...(s?.error ? {error: s.error} : {}),
        ...(s?.progress ? {progress: s.progress} : {}),
        ...(state === 'failed' ? {retry_command: retryCommand(wf.keyspace, t.id, hints)} : {}),
      }
    })
    const st: PhaseStatusName = tasks.every((t) => t.state === 'done')
      ? 'done'
      : tasks.some((t) => t.state === 'failed')
        ? 'failed'
        : tasks.some((t) => t.state === 'running')
          ? 'running'
          : gate?.phase === ph.name || tasks.some((t) => t.state === 'waiting_approval')
            ? 'waiting'
            : cur?.name === ph.name && tasks.some((t) => t.state === 'done')
              ? 'running'
              : 'pending'
    return {name: ph.name, mode: ph.mode, gate: ph.gate, state: st, tasks}
  })
  const failures = phases.flatMap((ph) =>
    ph.tasks
      .filter((t) => t.state === 'failed')
      .map((t) => ({
        task: t.id,
        phase: ph.name,
        error: t.error ?? 'failed',
        attempts: t.attempts,
        retry_command: t.retry_command!,
      })),
  )
  const all = Object.values(wf.tasks)
  const stopped = !finished && !lock && (wf.state === 'running' || all.some((t) => t.state === 'running'))
  return {
    id: wf.id,
    keyspace: wf.keyspace,
    kind: wf.kind,
    state: wf.state,
    finished,
    layout: wf.plan.desired.file,
    source: wf.source,
    created_at: wf.createdAt,
    created_by: wf.createdBy,
    updated_at: wf.updatedAt,
    ...(wf.finishedAt ? {finished_at: wf.finishedAt} : {}),
    ...(cur ? {current_phase: cur.name} : {}),
    lock: finished ? null : (lock ?? null),
    stopped,
    ...(!finished && !lock ? {resume_command: resumeCommand(hints)} : {}),
    phases,
    waiting:
      gate && !finished
        ? {
            phase: gate.phase,
            stage: gate.stage,
            gate: gate.gate,
            tasks: gate.tasks,
            description: describeStage(gate),
            command: approveCommand(wf.keyspace, gate, hints),
            ...waitingSince(wf, gate.phase),
          }
        : null,
    failures,
    tasks: {
      total: all.length,
      done: all.filter((t) => t.state === 'done').length,
      running: all.filter((t) => t.state === 'running').length,
      failed: all.filter((t) => t.state === 'failed').length,
    },
  }
}

/** The last `waiting` event of the phase, if no approval came after it. */
function waitingSince(wf: WorkflowRecord, phase: string): {since?: string} {
  for (let i = wf.events.length - 1; i >= 0; i--) {
    const e = wf.events[i]!
    if (e.phase !== phase) continue
    if (e.type === 'waiting') return {since: e.at}
    if (e.type === 'approved') return {}
  }
  return {}
}

/** One workflow's status with its streams (undefined when there is no such workflow). */
export async function workflowStatusOf(
  store: TopoStore,
  id: string,
  hints?: CommandHints,
): Promise<WorkflowStatus | undefined> {
  const e = readWorkflowEntry(await store.get(workflowPath(id)))
  if (!e?.value || typeof e.value !== 'object') return undefined
  return withStreams(store, workflowStatus(e.value, await store.readLock(e.value.keyspace), hints))
}

async function withStreams(store: TopoStore, st: WorkflowStatus): Promise<WorkflowStatus> {
  if (st.finished) return st
  // The driver's own streams, and those servers run as work items (each from the server holding its claim).
  const own = await store.get<StreamsStatus>(workflowStreamsPath(st.id))
  type S = StreamsStatus['streams'][number]
  const none = {runners: new Map<string, string>(), streams: [] as S[]}
  const tasks = await handedOutTasks<S>(store, st.id).catch(() => none)
  const merged = await mergeItemStreams(store, st.id, own?.value).catch(() => own?.value)
  // A diff running on another server runs the streams into its destination there.
  const streams = tasks.streams.length
    ? {
        updated_at: merged?.updated_at ?? '',
        streams: [
          ...(merged?.streams ?? []).filter((s) => !tasks.streams.some((t) => t.id === s.id)),
          ...tasks.streams,
        ].sort((a, b) => a.id.localeCompare(b.id)),
      }
    : merged
  const phases = tasks.runners.size
    ? st.phases.map((p) => ({
        ...p,
        tasks: p.tasks.map((t) => (tasks.runners.has(t.id) ? {...t, server: tasks.runners.get(t.id)} : t)),
      }))
    : st.phases
  return streams?.streams.length ? {...st, phases, streams} : {...st, phases}
}

/** Every unfinished workflow, and the last finished one of each keyspace (only `keyspace`'s when given). */
export async function collectStatus(
  store: TopoStore,
  keyspace?: string,
  hints?: CommandHints,
): Promise<WorkflowStatus[]> {
  const wfs = await listWorkflows(store, keyspace)
  const pick: WorkflowRecord[] = []
  const lastFinished = new Map<string, WorkflowRecord>()
  for (const w of wfs) {
    if (isFinished(w)) lastFinished.set(w.keyspace, w)
    else pick.push(w)
  }
  for (const w of lastFinished.values()) {
    if (!pick.some((p) => p.keyspace === w.keyspace && p.createdAt > w.createdAt)) pick.push(w)
  }
  pick.sort((a, b) => a.keyspace.localeCompare(b.keyspace) || a.createdAt.localeCompare(b.createdAt))
  const locks = new Map<string, LockRecord | undefined>()
  for (const ks of new Set(pick.map((w) => w.keyspace))) locks.set(ks, await store.readLock(ks))
  return Promise.all(pick.map((w) => withStreams(store, workflowStatus(w, locks.get(w.keyspace), hints))))
}

/** Every workflow (finished or not; only `keyspace`'s when given), oldest first, without streams. */
export async function listStatus(store: TopoStore, keyspace?: string, hints?: CommandHints): Promise<WorkflowStatus[]> {
  const wfs = await listWorkflows(store, keyspace)
  const locks = new Map<string, LockRecord | undefined>()
  for (const ks of new Set(wfs.filter((w) => !isFinished(w)).map((w) => w.keyspace)))
    locks.set(ks, await store.readLock(ks))
  return wfs.map((w) => workflowStatus(w, locks.get(w.keyspace), hints))
}

export interface HistoryEntry extends WorkflowEvent {
  workflow: string
}

/** Events of every workflow of the keyspace, oldest first. */
export async function collectHistory(store: TopoStore, keyspace: string): Promise<HistoryEntry[]> {
  const wfs = await listWorkflows(store, keyspace)
  const out: HistoryEntry[] = []
  for (const w of wfs) for (const e of w.events ?? []) out.push({workflow: w.id, ...e})
  // Stable: equal timestamps keep their order within a workflow.
  return out
    .map((e, i) => ({e, i}))
    .sort((a, b) => a.e.at.localeCompare(b.e.at) || a.i - b.i)
    .map((x) => x.e)
}

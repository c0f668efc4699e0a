// Reading stored workflow records of any version. Records written before the fields were camelCase (started_at,
// created_by, write_id, …) are renamed on read, so a workflow in flight keeps working across an upgrade; the next write
// stores it in the current shape. The plan inside the record is the plan contract (format_version): left as it is.
import type {Entry} from '../topo/store.js'
import {assertRecordReadable} from './record-format.js'
import type {TaskRun, TaskState, WorkflowRecord} from './types.js'

type Raw = Record<string, unknown>

const RECORD_KEYS = {
  created_at: 'createdAt',
  created_by: 'createdBy',
  updated_at: 'updatedAt',
  finished_at: 'finishedAt',
  write_id: 'writeId',
}
const TASK_KEYS = {started_at: 'startedAt', finished_at: 'finishedAt', checkpoint_at: 'checkpointAt'}
const RUN_KEYS = {started_at: 'startedAt', finished_at: 'finishedAt'}

/** `o` with the old keys renamed (a new key present already wins); the same object when there is nothing to rename. */
function renamed(o: Raw, keys: Record<string, string>): Raw {
  if (!Object.keys(keys).some((k) => k in o)) return o
  const out: Raw = {}
  for (const [k, v] of Object.entries(o)) {
    const to = keys[k as keyof typeof keys]
    if (!to) out[k] = v
    else if (!(to in o)) out[to] = v
  }
  return out
}

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v)

function task(raw: unknown): TaskState {
  if (!isObject(raw)) return raw as TaskState
  const t = renamed(raw, TASK_KEYS)
  if (!Array.isArray(t.runs)) return t as unknown as TaskState
  return {...t, runs: t.runs.map((r) => (isObject(r) ? renamed(r, RUN_KEYS) : r)) as TaskRun[]} as unknown as TaskState
}

/** A stored workflow record, in the current shape whatever version wrote it. */
export function readWorkflowRecord(raw: unknown): WorkflowRecord {
  if (!isObject(raw)) return raw as WorkflowRecord
  const wf = renamed(raw, RECORD_KEYS)
  const tasks = isObject(wf.tasks)
    ? Object.fromEntries(Object.entries(wf.tasks).map(([id, t]) => [id, task(t)]))
    : wf.tasks
  return {...wf, tasks} as unknown as WorkflowRecord
}

/** What is missing from a stored record for anything to read it (a damaged record), or undefined when whole. */
export function recordDamage(raw: unknown): string | undefined {
  if (!isObject(raw)) return 'it is not a JSON object'
  const wf = readWorkflowRecord(raw)
  if (typeof wf.id !== 'string' || typeof wf.keyspace !== 'string') return 'it has no id or keyspace'
  if (typeof wf.state !== 'string') return 'it has no state'
  const plan = wf.plan as unknown as Raw | undefined
  if (!isObject(plan) || !Array.isArray(plan.phases)) return 'it holds no plan'
  if (!isObject(wf.tasks)) return 'it has no tasks'
  if (!Array.isArray(wf.events) || !Array.isArray(wf.approvals)) return 'it has no events or approvals'
  return undefined
}

/** A stored record to run or change (the writer's path): one in a newer format than this code is refused. */
export function readWorkflowEntry(e: Entry<unknown> | undefined): Entry<WorkflowRecord> | undefined {
  if (e) assertRecordReadable(e.path, e.value)
  return e && {...e, value: readWorkflowRecord(e.value)}
}

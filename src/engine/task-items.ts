// Clone and diff tasks as work items. A workflow driven by `shardform server` hands each such task out: any live server
// claims it under a lease and runs it from the task's stored checkpoint; the driver waits for its result and records
// it as it would its own. Records, below workflows/<id>/tasks/<task id, URI-encoded>/:
//   Item    what to run: task, attempt, and a hand-out number the driver raises when a claimant vanished
//   Claim   held under a lease by the server running it
//   Result  what the run came to (for that attempt and hand-out)
// The task's state in the workflow record names the claimant (`runner`): a checkpoint or progress write of anyone
// else is refused in the same compare-and-swap, so a claimant that lost its lease (paused, partitioned) stops there.
import type {Cohort} from './cohorts.js'
import {claimLive} from './work-items.js'
import type {LockRecord} from '../topo/records.js'
import type {TopoReader} from '../topo/store.js'

export interface TaskItem {
  workflow: string
  keyspace: string
  task: string
  phase: string
  attempt: number
  /** Raised by the driver each time it hands the same attempt out again (its claimant went away without a result). */
  handout: number
  updatedAt: string
  /**
   * The tasks the driver started together with this one (engine/cohorts.ts). A server that claims one diff of a cohort
   * claims its unclaimed siblings as well, so their shared scan runs there (server/task-items.ts).
   */
  cohort?: Cohort
}

export interface TaskItemResult {
  attempt: number
  handout: number
  server: string
  ok: boolean
  output?: Record<string, unknown>
  error?: string
}

export const taskItemsPrefix = (workflow: string) => `workflows/${workflow}/tasks/`
export const taskItemKey = (task: string) => encodeURIComponent(task)
export const taskItemPath = (workflow: string, task: string) => `${taskItemsPrefix(workflow)}${taskItemKey(task)}/Item`
export const taskClaimPath = (workflow: string, task: string) =>
  `${taskItemsPrefix(workflow)}${taskItemKey(task)}/Claim`
export const taskResultPath = (workflow: string, task: string) =>
  `${taskItemsPrefix(workflow)}${taskItemKey(task)}/Result`
/** Where a claimed diff publishes the status of the streams it runs (not the driver's Streams record). */
export const taskStreamsPath = (workflow: string, task: string) =>
  `${taskItemsPrefix(workflow)}${taskItemKey(task)}/Streams`

/** The workflow, task id and record kind of a path below workflows/, when it is a task item's. */
export function parseTaskItemPath(
  path: string,
): {workflow: string; task: string; kind: 'Item' | 'Claim' | 'Result' | 'Streams'} | undefined {
  const m = /^workflows\/([^/]+)\/tasks\/([^/]+)\/(Item|Claim|Result|Streams)$/.exec(path)
  if (!m) return undefined
  let task: string
  try {
    task = decodeURIComponent(m[2]!)
  } catch {
    return undefined
  }
  return {workflow: m[1]!, task, kind: m[3] as 'Item' | 'Claim' | 'Result' | 'Streams'}
}

/**
 * Held by the one server that runs a cohort's shared work (engine/cohorts.ts): the first to take one of its tasks holds
 * it, takes the siblings too, and the other servers leave them. One record, so two servers that look at the same
 * moment cannot split a cohort between them (each claiming a different sibling).
 */
export const cohortClaimPath = (workflow: string, cohort: string) => `workflows/${workflow}/cohorts/${cohort}/Claim`

/** The live cohort claims in a listing of workflows/: `<workflow>/<cohort id>` → the server that holds it. */
export function cohortHolders(entries: {path: string; value: unknown}[], now = Date.now()): Map<string, string> {
  const out = new Map<string, string>()
  for (const e of entries) {
    const m = /^workflows\/([^/]+)\/cohorts\/([^/]+)\/Claim$/.exec(e.path)
    const v = e.value as (LockRecord & {server?: string}) | undefined
    if (m && v?.server && claimLive(v, now)) out.set(`${m[1]}/${m[2]}`, v.server)
  }
  return out
}

/** A task item's claim record: who runs it, and the cohort it was claimed for. */
export type TaskClaim = LockRecord & {server?: string; cohort?: string}

/** The live task claims of every workflow in a listing of workflows/: `<workflow>/<task>` → claim. */
export function taskClaims(entries: {path: string; value: unknown}[], now = Date.now()): Map<string, TaskClaim> {
  const out = new Map<string, TaskClaim>()
  for (const e of entries) {
    const p = parseTaskItemPath(e.path)
    const v = e.value as LockRecord & {expires?: number}
    if (p?.kind === 'Claim' && v && claimLive(v, now)) out.set(`${p.workflow}/${p.task}`, v)
  }
  return out
}

/**
 * Which server runs each of a workflow's handed-out tasks now (task id → server id), and the streams those servers
 * run for them (a diff's), each with its server.
 */
export async function handedOutTasks<S extends {id: string; server?: string}>(
  store: TopoReader,
  workflow: string,
): Promise<{runners: Map<string, string>; streams: S[]}> {
  const runners = new Map<string, string>()
  const streams: S[] = []
  const entries = await store.list<unknown>(taskItemsPrefix(workflow))
  for (const [k, c] of taskClaims(entries)) if (c.server) runners.set(k.slice(workflow.length + 1), c.server)
  for (const e of entries) {
    const p = parseTaskItemPath(e.path)
    const rec = e.value as {server?: string; streams?: S[]} | undefined
    const server = p && runners.get(p.task)
    if (p?.kind !== 'Streams' || !server || rec?.server !== server || !Array.isArray(rec.streams)) continue
    for (const s of rec.streams) streams.push({...s, server})
  }
  return {runners, streams}
}

// The small workflow commands that do not run tasks: approve, recording a retry for the servers, force-unlock.
import type {LockRecord} from '../topo/records.js'
import {isErrorCode} from '../errors.js'
import type {TopoStore} from '../topo/store.js'
import {listWorkflows, unfinished} from './select.js'
import type {Approval, GateStageName, WorkflowRecord} from './types.js'
import {
  addEvent,
  approve,
  EngineError,
  openGate,
  resetForRetry,
  whoAmI,
  type CommandHints,
  type GateStage,
} from './workflow.js'
import {WorkflowWriter} from './writer.js'

/** The one unfinished workflow of a keyspace (EngineError when there is none). */
export async function unfinishedWorkflowOf(store: TopoStore, keyspace: string): Promise<WorkflowRecord> {
  const open = unfinished(await listWorkflows(store, keyspace))
  if (!open.length) throw new EngineError(`keyspace ${keyspace} has no unfinished workflow in ${store.url}.`)
  if (open.length > 1)
    throw new EngineError(
      `keyspace ${keyspace} has several unfinished workflows (${open.map((w) => w.id).join(', ')}); the topology is inconsistent.`,
    )
  return open[0]!
}

export interface ApproveOptions {
  phase?: string
  stage?: GateStageName
  who?: string
  via?: Approval['via']
  /** Refuse unless this is the keyspace's unfinished workflow (the API names workflows, the CLI keyspaces). */
  workflowId?: string
}

/**
 * Record an approval in the keyspace's unfinished workflow (CAS; a waiting apply sees it through its watch). Refuses
 * when nothing waits or the gate named is not open.
 */
export async function approveWorkflow(
  store: TopoStore,
  keyspace: string,
  opts: ApproveOptions = {},
): Promise<{wf: WorkflowRecord; approval: Approval; stage: GateStage}> {
  const found = await unfinishedWorkflowOf(store, keyspace)
  if (opts.workflowId && found.id !== opts.workflowId)
    throw new EngineError(
      `workflow ${opts.workflowId} is not the unfinished workflow of keyspace ${keyspace} (${found.id} is).`,
    )
  const writer = await WorkflowWriter.load(store, found.id)
  const held = await store.readLock(keyspace)
  let result: {approval: Approval; stage: GateStage} | undefined
  const wf = await writer.mutate((x) => {
    result = approve(x, {phase: opts.phase, stage: opts.stage, by: opts.who ?? whoAmI(), via: opts.via ?? 'approve'})
    // An apply holding the lock picks it up at once; otherwise the next apply continues.
    if (x.state === 'waiting' && !openGate(x)) x.state = held ? 'running' : 'paused'
  })
  return {wf, ...result!}
}

export interface RecordRetryOptions {
  /** The failed task; undefined = every failed task. */
  taskId?: string
  who?: string
  hints?: CommandHints
}

/**
 * Put failed tasks of a workflow back to pending without running them (the HTTP API's retry): under the keyspace lock,
 * taken for a moment, so no run is changing the record meanwhile. A server skips a failed workflow until its record
 * changes, so it sees this write and runs the workflow again from there. The keyspace lock held (a run still going)
 * → EngineError code engine.lock_held.
 */
export async function recordRetry(
  store: TopoStore,
  workflowId: string,
  opts: RecordRetryOptions = {},
): Promise<{wf: WorkflowRecord; tasks: string[]}> {
  const writer = await WorkflowWriter.load(store, workflowId)
  const keyspace = writer.value.keyspace
  let lock
  try {
    lock = await store.lock(keyspace, {operation: `record a retry in workflow ${workflowId}`, timeoutMs: 0})
  } catch (e) {
    if (isErrorCode(e, 'lock_held')) throw new EngineError((e as Error).message, {code: 'engine.lock_held'})
    throw e
  }
  try {
    await writer.refresh()
    const who = opts.who ?? whoAmI()
    let tasks: string[] = []
    const wf = await writer.mutate((x) => {
      if (x.state === 'done' || x.state === 'cancelled')
        throw new EngineError(`workflow ${x.id} is ${x.state}; there is nothing to retry.`)
      const failed = Object.values(x.tasks)
        .filter((t) => t.state === 'failed')
        .map((t) => t.id)
      tasks = opts.taskId ? [opts.taskId] : failed
      if (!tasks.length) throw new EngineError(`no task of workflow ${x.id} has failed; there is nothing to retry.`)
      for (const t of tasks) resetForRetry(x, t, who, opts.hints)
    })
    return {wf, tasks}
  } finally {
    await lock.release().catch(() => undefined)
  }
}

/** Remove the keyspace lock held by `lockId`; noted in the unfinished workflow's history. */
export async function forceUnlock(
  store: TopoStore,
  keyspace: string,
  lockId: string,
  who = whoAmI(),
): Promise<LockRecord> {
  let holder: LockRecord
  try {
    holder = await store.forceUnlock(keyspace, lockId)
  } catch (e) {
    if (isErrorCode(e, 'not_found')) throw new EngineError(`keyspace ${keyspace} is not locked; nothing removed.`)
    if (isErrorCode(e, 'conflict')) throw new EngineError((e as Error).message)
    throw e
  }
  const open = unfinished(await listWorkflows(store, keyspace))
  for (const w of open) {
    const writer = await WorkflowWriter.load(store, w.id)
    await writer
      .mutate((x) =>
        addEvent(x, {
          who,
          type: 'force_unlock',
          message: `lock ${holder.id} of ${holder.who} ("${holder.operation}", since ${holder.created}) removed with force-unlock`,
        }),
      )
      .catch(() => undefined)
  }
  return holder
}

// Run one claimed task item (task-items.ts) on a server that is not its workflow's driver: the task context reads and
// writes the workflow record directly, every write conditional on this claimant still being the task's runner.
import {errorMessage, isErrorCode} from '../errors.js'
import type {TaskItem, TaskItemResult} from './task-items.js'
import {ProgressThrottle} from './progress-throttle.js'
import type {Executor, TaskContext, TaskState, WorkflowRecord} from './types.js'
import {WorkflowWriter} from './writer.js'
import {addEvent, EngineError} from './workflow.js'
import type {TopoStore} from '../topo/store.js'

/** Minimum interval between progress writes (ms), as the driver's own runner's default. */
const PROGRESS_MS = 1000

export interface ClaimedTaskOptions {
  store: TopoStore
  item: TaskItem
  /** This claim's identity, written into the task's state: only writes by it are accepted. */
  runner: string
  server: string
  who: string
  exec: Executor
  services: unknown
  signal: AbortSignal
}

/** Error code: the item is no longer this claimant's to run (the driver moved on); nothing of it is recorded. */
export const STALE_TASK_ITEM = 'engine.stale_task_item'
const stale = (summary: string) => new EngineError(summary, {code: STALE_TASK_ITEM})

/**
 * Become the task's runner, run it, and say what it came to. Throws STALE_TASK_ITEM when the record no longer runs this
 * attempt (or another claimant took it), and the executor's error when stopped by `signal` (no result: the driver
 * hands the task out again).
 */
export async function runClaimedTask(o: ClaimedTaskOptions): Promise<TaskItemResult> {
  const {item, runner, who} = o
  const writer = await WorkflowWriter.load(o.store, item.workflow)
  const own = (ts: TaskState | undefined) =>
    ts?.state === 'running' && ts.attempts === item.attempt && ts.runner === runner
  const fenced = () =>
    stale(
      `task ${item.task} attempt ${item.attempt} is no longer run by ${runner} (its claim was lost or the driver moved on); this write is refused`,
    )
  await writer.mutate((wf) => {
    const ts = wf.tasks[item.task]
    if (ts?.state !== 'running' || ts.attempts !== item.attempt)
      throw stale(`task ${item.task} is not running attempt ${item.attempt} any more`)
    ts.runner = runner
    addEvent(wf, {
      who,
      type: 'log',
      task: item.task,
      phase: ts.phase,
      message: `runs on server ${o.server}${item.handout > 1 ? ` (handed out ${item.handout} times)` : ''}`,
    })
  })
  const wf0 = writer.value
  const phase = wf0.plan.phases.find((p) => p.name === item.phase)
  const task = phase?.tasks.find((t) => t.id === item.task)
  if (!phase || !task) throw stale(`task ${item.task} is not in the plan of workflow ${item.workflow}`)
  const write = (fn: (ts: TaskState, wf: WorkflowRecord) => void) =>
    writer.mutate((wf) => {
      const ts = wf.tasks[item.task]
      if (!own(ts)) throw fenced()
      fn(ts!, wf)
    })
  const progress = new ProgressThrottle(PROGRESS_MS, (p) => {
    void write((ts) => (ts.progress = p)).catch(() => undefined)
  })
  const ctx: TaskContext = {
    store: o.store,
    keyspace: wf0.keyspace,
    workflowId: wf0.id,
    plan: wf0.plan,
    phase,
    task,
    attempt: item.attempt,
    resuming: item.attempt > 1 || wf0.tasks[item.task]?.checkpoint !== undefined,
    checkpoint: <T>() => writer.value.tasks[item.task]?.checkpoint as T | undefined,
    saveCheckpoint: async (data) => {
      await write((ts) => {
        ts.checkpoint = data
        ts.checkpointAt = new Date().toISOString()
      })
    },
    progress: (p) => progress.set({...p, at: new Date().toISOString()}),
    log: (message) => {
      void write((ts, wf) =>
        addEvent(wf, {who, type: 'log', task: item.task, phase: ts.phase, message: String(message)}),
      ).catch(() => undefined)
    },
    output: (id) => writer.value.tasks[id]?.output,
    superseded: async () => !own((await writer.refresh()).tasks[item.task]),
    signal: o.signal,
    services: o.services,
    ...(item.cohort ? {cohort: item.cohort} : {}),
  }
  const base = {attempt: item.attempt, handout: item.handout, server: o.server}
  try {
    const r = (await o.exec(ctx)) ?? {}
    if (r.ops?.length)
      throw new EngineError(`task ${item.task} returned topology changes; only its driver may commit them`)
    return {...base, ok: true, ...(r.output ? {output: r.output} : {})}
  } catch (e) {
    if (o.signal.aborted || isErrorCode(e, STALE_TASK_ITEM)) throw e
    return {...base, ok: false, error: errorMessage(e)}
  } finally {
    const last = progress.stop()
    if (last) await write((ts) => (ts.progress = last)).catch(() => undefined)
    // The driver records the outcome; the runner's last writes must land before it reads the record.
    await writer.flush()
  }
}

// One task attempt: mark it running (CAS), give its executor a context (checkpoints, progress, log), and write what
// came of it. Interrupted tasks go back to pending; a topology outage is retried; a failure waits for a retry.
import {errorMessage, isErrorCode, type ShardformError} from '../errors.js'
import type {PlanPhase, PlanTask} from '../plan/types.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {OPS_CONFLICT, SKIP, WRITER_UNAVAILABLE, type WorkflowWriter} from './writer.js'
import {ProgressThrottle, type StampedProgress} from './progress-throttle.js'
import type {Cohort} from './cohorts.js'
import type {Runtime, TaskContext, TaskProgress, TaskResult, TaskState} from './types.js'
import {addEvent, EngineError, trimRuns} from './workflow.js'

export interface TaskExecOptions {
  writer: WorkflowWriter
  runtime: Runtime
  services?: unknown
  who: string
  runBy?: string
  /** Minimum interval between progress writes of one task (default 1000 ms). */
  progressIntervalMs?: number
  /** The runner's signal: tasks stop at a safe point when it aborts. */
  signal: AbortSignal
  /** The error that stopped the runner, if any. */
  fatal: () => unknown
  /** A write failed for good: stop the runner. */
  fail: (e: unknown) => void
  /** Live progress, before it is throttled into the record. */
  emitProgress?: (taskId: string, at: string, p: TaskProgress) => void
}

const now = () => new Date().toISOString()

export class TaskExecutor {
  private readonly progressSlots = new Map<string, ProgressThrottle>()
  /** How often each task was put back after the topology was unreachable, in this run. */
  private readonly transient = new Map<string, number>()

  constructor(private readonly o: TaskExecOptions) {}

  /** Runs one task attempt and writes its outcome (done, failed, or back to pending when interrupted). */
  async run(phase: PlanPhase, t: PlanTask, cohort?: Cohort): Promise<void> {
    if (this.o.signal.aborted) return
    const {who} = this.o
    const by = this.o.runBy ?? who
    const attempt = (this.o.writer.value.tasks[t.id]?.attempts ?? 0) + 1
    const startedAt = now()
    const own = (ts: TaskState | undefined) => ts?.state === 'running' && ts.attempts === attempt
    await this.o.writer.mutate((wf) => {
      const ts = wf.tasks[t.id]!
      if (own(ts)) return SKIP
      if (ts.state !== 'pending' && ts.state !== 'waiting_approval')
        throw new EngineError(`task ${t.id} is ${ts.state}; not starting it`)
      ts.state = 'running'
      ts.attempts = attempt
      ts.startedAt = startedAt
      delete ts.finishedAt
      delete ts.error
      delete ts.runner
      ts.runs = [...(ts.runs ?? []), {attempt, startedAt, by}]
      trimRuns(ts)
      wf.state = 'running'
      addEvent(wf, {
        at: startedAt,
        who,
        type: 'task_started',
        task: t.id,
        phase: phase.name,
        message: attempt === 1 ? 'started' : `started attempt ${attempt} (resuming)`,
      })
    })
    const wfNow = this.o.writer.value
    const signal = this.o.signal
    const ctx: TaskContext = {
      store: this.o.writer.store,
      keyspace: wfNow.keyspace,
      workflowId: wfNow.id,
      plan: wfNow.plan,
      phase,
      task: t,
      attempt,
      resuming: attempt > 1,
      checkpoint: <T>() => this.o.writer.value.tasks[t.id]?.checkpoint as T | undefined,
      saveCheckpoint: async (data: unknown) => {
        await this.o.writer.mutate((wf) => {
          const ts = wf.tasks[t.id]
          if (!own(ts))
            throw new EngineError(`task ${t.id} attempt ${attempt} is no longer running here; checkpoint not saved`)
          ts!.checkpoint = data
          ts!.checkpointAt = now()
        })
      },
      progress: (p) => this.progress(t.id, attempt, p),
      log: (message) => {
        void this.o.writer
          .mutate((wf) => addEvent(wf, {who, type: 'log', task: t.id, phase: phase.name, message: String(message)}))
          .catch((e) => this.o.fail(e))
      },
      output: (id) => this.o.writer.value.tasks[id]?.output,
      superseded: async () => !own((await this.o.writer.refresh()).tasks[t.id]),
      signal,
      services: this.o.services,
      ...(cohort ? {cohort} : {}),
    }
    const exec = this.o.runtime.executors[phase.name]
    let result: TaskResult = {}
    let error: unknown
    try {
      if (!exec) throw new EngineError(`phase ${phase.name} has no executor in this runtime`)
      result = (await exec(ctx)) ?? {}
    } catch (e) {
      error = e
    }
    const lastProgress = this.stopProgress(t.id)
    if (isErrorCode(this.o.fatal(), WRITER_UNAVAILABLE)) return // cannot write; the task stays `running` and resumes next time
    const finishedAt = now()
    const took = ((Date.parse(finishedAt) - Date.parse(startedAt)) / 1000).toFixed(1)
    const closeRun = (ts: TaskState, result: 'done' | 'failed' | 'interrupted', err?: string) => {
      const run = ts.runs?.findLast((r) => r.attempt === attempt)
      if (run) {
        run.finishedAt = finishedAt
        run.result = result
        if (err) run.error = err
      }
      if (lastProgress) ts.progress = lastProgress
    }
    if (error !== undefined) {
      // Back to pending, to run again: now (the topology went away under it) or on the next apply (stopped).
      const interrupted = (message: string, err?: string) =>
        this.o.writer.mutate((wf) => {
          const ts = wf.tasks[t.id]
          if (!own(ts)) return SKIP
          ts!.state = 'pending'
          closeRun(ts!, 'interrupted', err)
          addEvent(wf, {at: finishedAt, who, type: 'task_interrupted', task: t.id, phase: phase.name, message})
        })
      if (signal.aborted) {
        await interrupted(
          `stopped after ${took} s (${errorMessage(signal.reason ?? 'interrupted')}); resumes on the next apply`,
        )
        return
      }
      // The topology went away under the executor (etcd restarting): not the task's fault. Once the topology
      // answers again (the write below waits for it), the task runs again as a resume.
      if (isTopologyUnavailable(error) && (this.transient.get(t.id) ?? 0) < MAX_TRANSIENT_RETRIES) {
        this.transient.set(t.id, (this.transient.get(t.id) ?? 0) + 1)
        await sleep(1000)
        await interrupted(
          `the topology was unreachable (${errorMessage(error)}); running it again`,
          errorMessage(error),
        )
        return
      }
      await this.recordFailure(phase, t, attempt, errorMessage(error), finishedAt, closeRun)
      return
    }
    try {
      await this.o.writer.mutate((wf) => {
        const ts = wf.tasks[t.id]!
        if (ts.state === 'done' && ts.attempts === attempt) return SKIP // landed already (a retried write)
        if (!own(ts))
          throw new EngineError(
            `task ${t.id} attempt ${attempt} is no longer running here (state ${ts.state}, attempt ${ts.attempts}); its result is not recorded`,
          )
        ts.state = 'done'
        ts.finishedAt = finishedAt
        if (result.output !== undefined) ts.output = result.output
        closeRun(ts, 'done')
        addEvent(wf, {
          at: finishedAt,
          who,
          type: 'task_done',
          task: t.id,
          phase: phase.name,
          message: `done in ${took} s${result.ops?.length ? ` (${result.ops.length} topology change${result.ops.length === 1 ? '' : 's'} committed with it)` : ''}`,
        })
      }, result.ops ?? [])
    } catch (e) {
      if (!isErrorCode(e, OPS_CONFLICT)) throw e
      await this.recordFailure(
        phase,
        t,
        attempt,
        `its topology changes conflict with records changed meanwhile, so nothing of them was written (${(e as ShardformError).detail})`,
        finishedAt,
        closeRun,
      )
    }
  }

  private async recordFailure(
    phase: PlanPhase,
    t: PlanTask,
    attempt: number,
    message: string,
    finishedAt: string,
    closeRun: (ts: TaskState, r: 'failed', err: string) => void,
  ): Promise<void> {
    await this.o.writer.mutate((wf) => {
      const ts = wf.tasks[t.id]
      if (!(ts?.state === 'running' && ts.attempts === attempt)) return SKIP
      ts.state = 'failed'
      ts.error = message
      ts.finishedAt = finishedAt
      closeRun(ts, 'failed', message)
      addEvent(wf, {
        at: finishedAt,
        who: this.o.who,
        type: 'task_failed',
        task: t.id,
        phase: phase.name,
        message: `failed (attempt ${attempt}): ${message}`,
      })
    })
  }

  private progress(taskId: string, attempt: number, p: TaskProgress): void {
    const at = now()
    this.o.emitProgress?.(taskId, at, p)
    let slot = this.progressSlots.get(taskId)
    if (!slot) {
      // At most ~1/PROGRESS_DUTY of the time spent writing progress: the record holds the plan, and at thousands of
      // shards one write costs most of a second.
      const base = this.o.progressIntervalMs ?? 1000
      const interval = () => Math.max(base, PROGRESS_DUTY * this.o.writer.writeCostMs)
      slot = new ProgressThrottle(interval, (pending) => {
        void this.o.writer
          .mutate((wf) => {
            const ts = wf.tasks[taskId]
            if (!(ts?.state === 'running' && ts.attempts === attempt)) return SKIP
            ts.progress = pending
          })
          .catch((e) => this.o.fail(e))
      })
      this.progressSlots.set(taskId, slot)
    }
    slot.set({...p, at})
  }

  /** Stop a task's progress writes; returns the latest progress not yet written. */
  private stopProgress(taskId: string): StampedProgress | undefined {
    const slot = this.progressSlots.get(taskId)
    this.progressSlots.delete(taskId)
    return slot?.stop()
  }

  /** Stop every task's progress writes (the runner ends). */
  stopAll(): void {
    for (const s of this.progressSlots.values()) s.stop()
  }
}

const MAX_TRANSIENT_RETRIES = 30

/** Progress writes take at most a tenth of the time (the interval is at least ten writes' cost). */
const PROGRESS_DUTY = 10

function isTopologyUnavailable(e: unknown): boolean {
  return isErrorCode(e, 'unavailable')
}

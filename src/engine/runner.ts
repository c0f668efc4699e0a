// The workflow runner: phases in plan order, tasks in parallel (bounded) or one at a time, gates before tasks, every
// state change written (CAS) to the workflow record before it is acted on. Call it with the keyspace lock held.
import {errorMessage, isErrorCode, type ShardformError} from '../errors.js'
import type {PlanPhase, PlanTask} from '../plan/types.js'
import {setTimeout as sleep} from 'node:timers/promises'
import {OPS_CONFLICT, SKIP, WRITER_UNAVAILABLE, type WorkflowWriter} from './writer.js'
import {ProgressThrottle, type StampedProgress} from './progress-throttle.js'
import {startNow, type Cohort} from './cohorts.js'
import type {Runtime, TaskContext, TaskProgress, TaskResult, TaskState, WorkflowEvent, WorkflowRecord} from './types.js'
import {
  addEvent,
  approve,
  approveCommand,
  describeStage,
  EngineError,
  isApproved,
  openGate,
  openStage,
  retryCommand,
  taskCleared,
  trimRuns,
  type CommandHints,
  type GateStage,
} from './workflow.js'

export type RunnerEvent =
  | {kind: 'event'; workflow: string; event: WorkflowEvent}
  | {kind: 'progress'; workflow: string; task: string; at: string; progress: TaskProgress}

export interface RunnerUI {
  /**
   * Ask at a gate (interactive apply on a TTY); resolve true to approve. `signal` aborts when the gate was approved
   * elsewhere meanwhile (or apply stops). Leave undefined when not interactive.
   */
  askGate?(stage: GateStage, signal: AbortSignal): Promise<boolean>
  /** Every new event of the workflow (ours and others'), and live progress. */
  emit?(ev: RunnerEvent): void
}

export interface RunnerOptions {
  writer: WorkflowWriter
  runtime: Runtime
  services?: unknown
  /** Upper bound of concurrently running tasks in a parallel phase (default 10). */
  parallelism?: number
  /** Approve every gate as it opens. */
  autoApprove?: boolean
  /** At an open gate (not interactive, not auto-approved): stop with outcome `waiting` instead of waiting. */
  noWait?: boolean
  /** user@host, for events and approvals. */
  who: string
  /** user@host pid N: which apply ran a task. */
  runBy?: string
  /** Ctrl-C, lock lost: stop at a safe point. */
  signal?: AbortSignal
  ui?: RunnerUI
  hints?: CommandHints
  /** Minimum interval between progress writes of one task (default 1000 ms). */
  progressIntervalMs?: number
  /** Emit the record's events from this index on (default: only events written after the runner was made). */
  emitFromEvent?: number
}

export type RunOutcome =
  | {state: 'done'; wf: WorkflowRecord}
  | {state: 'failed'; wf: WorkflowRecord; failed: TaskState[]}
  | {state: 'waiting'; wf: WorkflowRecord; stage: GateStage}
  | {state: 'interrupted'; wf: WorkflowRecord; reason: unknown}

const now = () => new Date().toISOString()

export class Runner {
  private readonly writer: WorkflowWriter
  private readonly opts: RunnerOptions
  private readonly controller = new AbortController()
  private changes = 0
  private readonly waiters = new Set<() => void>()
  private fatal?: unknown
  private emitted = 0
  private readonly progressSlots = new Map<string, ProgressThrottle>()
  private waitingFor?: string

  constructor(opts: RunnerOptions) {
    this.opts = opts
    this.writer = opts.writer
    const ext = opts.signal
    if (ext) {
      if (ext.aborted) this.controller.abort(ext.reason)
      else ext.addEventListener('abort', () => this.controller.abort(ext.reason), {once: true})
    }
    this.controller.signal.addEventListener('abort', () => this.bump(), {once: true})
    this.emitted = opts.emitFromEvent ?? opts.writer.value.events.length
  }

  get signal(): AbortSignal {
    return this.controller.signal
  }

  async run(): Promise<RunOutcome> {
    const off = this.writer.onChange(() => {
      this.emitNewEvents()
      this.bump()
    })
    try {
      await this.writer.watch()
      await this.recoverStale()
      for (const phase of this.writer.value.plan.phases) {
        const r = await this.runPhase(phase)
        if (r) return await this.settleOutcome(r)
      }
      await this.writer.mutate((wf) => {
        if (wf.state === 'done') return SKIP
        wf.state = 'done'
        wf.finishedAt = now()
        const took = Math.round((Date.parse(wf.finishedAt) - Date.parse(wf.createdAt)) / 1000)
        addEvent(wf, {
          who: this.opts.who,
          type: 'done',
          message: `workflow done: ${Object.keys(wf.tasks).length} tasks in ${wf.plan.phases.length} phases (${took} s since it was created)`,
        })
      })
      return {state: 'done', wf: this.writer.value}
    } catch (e) {
      this.controller.abort(e)
      throw this.fatal ?? e
    } finally {
      for (const s of this.progressSlots.values()) s.stop()
      this.writer.unwatch()
      off()
      this.emitNewEvents()
    }
  }

  // ---- phases

  private async runPhase(phase: PlanPhase): Promise<RunOutcome | undefined> {
    const running = new Map<string, Promise<void>>()
    try {
      return await this.phaseLoop(phase, running)
    } catch (e) {
      // Stop the tasks still running and let them record where they stopped before giving up.
      this.fail(e)
      await Promise.allSettled(running.values())
      throw e
    }
  }

  private async phaseLoop(phase: PlanPhase, running: Map<string, Promise<void>>): Promise<RunOutcome | undefined> {
    const limit = this.limitFor(phase)
    let entered = false
    for (;;) {
      const seen = this.changes
      if (this.controller.signal.aborted) {
        await Promise.allSettled(running.values())
        if (this.fatal) throw this.fatal
        return {state: 'interrupted', wf: this.writer.value, reason: this.controller.signal.reason}
      }
      const wf = this.writer.value
      const states = phase.tasks.map((t) => wf.tasks[t.id]!)
      if (running.size === 0 && states.every((s) => s.state === 'done')) {
        if (
          wf.currentPhase === phase.name &&
          !wf.events.some((e) => e.type === 'phase_done' && e.phase === phase.name)
        ) {
          await this.writer.mutate((x) => {
            if (x.events.some((e) => e.type === 'phase_done' && e.phase === phase.name)) return SKIP
            addEvent(x, {
              who: this.opts.who,
              type: 'phase_done',
              phase: phase.name,
              message: `phase ${phase.name} done`,
            })
          })
        }
        return undefined
      }
      if (!entered) {
        entered = true
        const started = (x: WorkflowRecord) =>
          x.events.some((e) => e.type === 'phase_started' && e.phase === phase.name)
        if (wf.currentPhase !== phase.name || !started(wf)) {
          await this.writer.mutate((x) => {
            if (x.currentPhase === phase.name && started(x)) return SKIP
            x.currentPhase = phase.name
            addEvent(x, {
              who: this.opts.who,
              type: 'phase_started',
              phase: phase.name,
              message: `phase ${phase.name} started (${phase.mode}, ${phase.tasks.length} task${phase.tasks.length === 1 ? '' : 's'}, gate ${phase.gate})`,
            })
          })
          continue
        }
      }
      const failed = states.filter((s) => s.state === 'failed')
      const startable = (t: PlanTask) => {
        const s = wf.tasks[t.id]!.state
        return !running.has(t.id) && (s === 'pending' || s === 'waiting_approval') && taskCleared(wf, phase, t.id)
      }
      if (phase.mode === 'sequential') {
        if (!failed.length && running.size === 0) {
          const next = phase.tasks.find((t) => wf.tasks[t.id]!.state !== 'done')
          if (next && startable(next)) this.start(phase, next, running)
        }
      } else {
        const cohorts = new Map([...running.keys()].map((id) => [id, this.cohortOf.get(id)]))
        for (const {task, cohort} of startNow(phase, phase.tasks.filter(startable), cohorts, limit))
          this.start(phase, task, running, cohort)
      }
      if (running.size === 0) {
        if (failed.length) return this.phaseFailed(phase, failed)
        const stage = openStage(wf, phase)
        if (!stage) {
          throw new EngineError(
            `phase ${phase.name} cannot make progress (tasks: ${states.map((s) => `${s.id} ${s.state}`).join(', ')}); inspect with shardform status ${wf.keyspace}`,
          )
        }
        const r = await this.atGate(phase, stage, seen)
        if (r) return r
        continue
      }
      await this.waitChange(seen)
    }
  }

  /** Bounds running tasks; in the diff phase, running cohorts (shared scans: cohorts.ts). */
  private limitFor(phase: PlanPhase): number {
    if (phase.mode === 'sequential') return 1
    let n = Math.max(1, Math.floor(this.opts.parallelism ?? 10))
    const diffPar = this.writer.value.plan.desired?.settings?.diffParallelism
    if (phase.name === 'diff' && typeof diffPar === 'number' && diffPar > 0) n = Math.min(n, diffPar)
    return n
  }

  private async phaseFailed(phase: PlanPhase, failed: TaskState[]): Promise<RunOutcome> {
    const ks = this.writer.value.keyspace
    await this.writer.mutate((wf) => {
      if (wf.state === 'failed') return SKIP
      wf.state = 'failed'
      const list = failed.map(
        (f) =>
          `${f.id} (attempt ${f.attempts}): ${f.error ?? 'failed'} — retry: ${retryCommand(ks, f.id, this.opts.hints)}`,
      )
      addEvent(wf, {
        who: this.opts.who,
        type: 'failed',
        phase: phase.name,
        message: `phase ${phase.name} stopped: ${list.join('; ')}`,
      })
    })
    const wf = this.writer.value
    return {state: 'failed', wf, failed: phase.tasks.map((t) => wf.tasks[t.id]!).filter((t) => t.state === 'failed')}
  }

  private async settleOutcome(r: RunOutcome): Promise<RunOutcome> {
    if (r.state !== 'interrupted' || isErrorCode(this.fatal, WRITER_UNAVAILABLE)) return r
    const why = errorMessage(r.reason ?? 'interrupted')
    await this.writer.mutate((wf) => {
      if (wf.state === 'done') return SKIP
      wf.state = openGate(wf) ? 'waiting' : 'paused'
      addEvent(wf, {
        who: this.opts.who,
        type: 'stopped',
        message: `apply stopped (${why}); resume with shardform apply`,
      })
    })
    return {...r, wf: this.writer.value}
  }

  // ---- gates

  private async atGate(phase: PlanPhase, stage: GateStage, seen: number): Promise<RunOutcome | undefined> {
    const ks = this.writer.value.keyspace
    if (this.opts.autoApprove) {
      await this.writer.mutate((wf) => {
        if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
        approve(wf, {phase: phase.name, stage: stage.stage, by: this.opts.who, via: 'auto-approve'})
      })
      return undefined
    }
    const command = approveCommand(ks, stage, this.opts.hints)
    if (this.waitingFor !== stage.gate) {
      this.waitingFor = stage.gate
      await this.writer.mutate((wf) => {
        if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
        wf.state = 'waiting'
        for (const t of stage.tasks) if (wf.tasks[t]!.state === 'pending') wf.tasks[t]!.state = 'waiting_approval'
        addEvent(wf, {
          who: this.opts.who,
          type: 'waiting',
          phase: phase.name,
          message: `waiting for approval: ${describeStage(stage)} — run: ${command}`,
        })
      })
      if (openStage(this.writer.value, phase)?.gate !== stage.gate) return undefined
    }
    const ask = this.opts.ui?.askGate
    if (ask) {
      const ac = new AbortController()
      const stop = () => ac.abort()
      const off = this.writer.onChange((wf) => {
        if (stage.tasks.every((t) => isApproved(wf, t))) stop()
      })
      this.controller.signal.addEventListener('abort', stop, {once: true})
      let yes: boolean
      try {
        yes = await ask(stage, ac.signal)
      } catch (e) {
        if (!ac.signal.aborted) throw e
        return undefined // approved elsewhere, or stopping: the loop sees which
      } finally {
        off()
        this.controller.signal.removeEventListener('abort', stop)
      }
      if (ac.signal.aborted) return undefined
      if (!yes) return {state: 'waiting', wf: this.writer.value, stage}
      await this.writer.mutate((wf) => {
        if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
        approve(wf, {phase: phase.name, stage: stage.stage, by: this.opts.who, via: 'tty'})
      })
      return undefined
    }
    if (this.opts.noWait) return {state: 'waiting', wf: this.writer.value, stage}
    await this.waitChange(seen)
    return undefined
  }

  // ---- tasks

  private readonly cohortOf = new Map<string, Cohort>()

  private start(phase: PlanPhase, t: PlanTask, running: Map<string, Promise<void>>, cohort?: Cohort): void {
    if (cohort) this.cohortOf.set(t.id, cohort)
    const p = this.execTask(phase, t, cohort)
      .catch((e) => this.fail(e))
      .finally(() => {
        running.delete(t.id)
        this.cohortOf.delete(t.id)
        this.bump()
      })
    running.set(t.id, p)
  }

  /** A write failed for good (topology unreachable, record gone): stop everything. */
  private fail(e: unknown): void {
    this.fatal ??= e
    this.controller.abort(e)
  }

  private async execTask(phase: PlanPhase, t: PlanTask, cohort?: Cohort): Promise<void> {
    if (this.controller.signal.aborted) return
    const {who} = this.opts
    const by = this.opts.runBy ?? who
    const attempt = (this.writer.value.tasks[t.id]?.attempts ?? 0) + 1
    const startedAt = now()
    const own = (ts: TaskState | undefined) => ts?.state === 'running' && ts.attempts === attempt
    await this.writer.mutate((wf) => {
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
    const wfNow = this.writer.value
    const signal = this.controller.signal
    const ctx: TaskContext = {
      store: this.writer.store,
      keyspace: wfNow.keyspace,
      workflowId: wfNow.id,
      plan: wfNow.plan,
      phase,
      task: t,
      attempt,
      resuming: attempt > 1,
      checkpoint: <T>() => this.writer.value.tasks[t.id]?.checkpoint as T | undefined,
      saveCheckpoint: async (data: unknown) => {
        await this.writer.mutate((wf) => {
          const ts = wf.tasks[t.id]
          if (!own(ts))
            throw new EngineError(`task ${t.id} attempt ${attempt} is no longer running here; checkpoint not saved`)
          ts!.checkpoint = data
          ts!.checkpointAt = now()
        })
      },
      progress: (p) => this.progress(t.id, attempt, p),
      log: (message) => {
        void this.writer
          .mutate((wf) => addEvent(wf, {who, type: 'log', task: t.id, phase: phase.name, message: String(message)}))
          .catch((e) => this.fail(e))
      },
      output: (id) => this.writer.value.tasks[id]?.output,
      superseded: async () => !own((await this.writer.refresh()).tasks[t.id]),
      signal,
      services: this.opts.services,
      ...(cohort ? {cohort} : {}),
    }
    const exec = this.opts.runtime.executors[phase.name]
    let result: TaskResult = {}
    let error: unknown
    try {
      if (!exec) throw new EngineError(`phase ${phase.name} has no executor in this runtime`)
      result = (await exec(ctx)) ?? {}
    } catch (e) {
      error = e
    }
    const lastProgress = this.stopProgress(t.id)
    if (isErrorCode(this.fatal, WRITER_UNAVAILABLE)) return // cannot write; the task stays `running` and resumes next time
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
      if (signal.aborted) {
        await this.writer.mutate((wf) => {
          const ts = wf.tasks[t.id]
          if (!own(ts)) return SKIP
          ts!.state = 'pending'
          closeRun(ts!, 'interrupted')
          addEvent(wf, {
            at: finishedAt,
            who,
            type: 'task_interrupted',
            task: t.id,
            phase: phase.name,
            message: `stopped after ${took} s (${errorMessage(signal.reason ?? 'interrupted')}); resumes on the next apply`,
          })
        })
        return
      }
      // The topology went away under the executor (etcd restarting): not the task's fault. Once the topology
      // answers again (the write below waits for it), the task runs again as a resume.
      if (isTopologyUnavailable(error) && (this.transient.get(t.id) ?? 0) < MAX_TRANSIENT_RETRIES) {
        this.transient.set(t.id, (this.transient.get(t.id) ?? 0) + 1)
        await sleep(1000)
        await this.writer.mutate((wf) => {
          const ts = wf.tasks[t.id]
          if (!own(ts)) return SKIP
          ts!.state = 'pending'
          closeRun(ts!, 'interrupted', errorMessage(error))
          addEvent(wf, {
            at: finishedAt,
            who,
            type: 'task_interrupted',
            task: t.id,
            phase: phase.name,
            message: `the topology was unreachable (${errorMessage(error)}); running it again`,
          })
        })
        return
      }
      await this.recordFailure(phase, t, attempt, errorMessage(error), finishedAt, closeRun)
      return
    }
    try {
      await this.writer.mutate((wf) => {
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

  /** How often each task was put back after the topology was unreachable, in this run. */
  private transient = new Map<string, number>()

  private async recordFailure(
    phase: PlanPhase,
    t: PlanTask,
    attempt: number,
    message: string,
    finishedAt: string,
    closeRun: (ts: TaskState, r: 'failed', err: string) => void,
  ): Promise<void> {
    await this.writer.mutate((wf) => {
      const ts = wf.tasks[t.id]
      if (!(ts?.state === 'running' && ts.attempts === attempt)) return SKIP
      ts.state = 'failed'
      ts.error = message
      ts.finishedAt = finishedAt
      closeRun(ts, 'failed', message)
      addEvent(wf, {
        at: finishedAt,
        who: this.opts.who,
        type: 'task_failed',
        task: t.id,
        phase: phase.name,
        message: `failed (attempt ${attempt}): ${message}`,
      })
    })
  }

  /** Tasks a dead apply left `running`: back to pending; they run again with resuming = true. */
  private async recoverStale(): Promise<void> {
    if (!Object.values(this.writer.value.tasks).some((t) => t.state === 'running')) return
    await this.writer.mutate((wf) => {
      const stale = Object.values(wf.tasks).filter((t) => t.state === 'running')
      if (!stale.length) return SKIP
      for (const ts of stale) {
        ts.state = 'pending'
        const run = ts.runs?.findLast((r) => r.attempt === ts.attempts)
        if (run && !run.result) run.result = 'interrupted'
        addEvent(wf, {
          who: this.opts.who,
          type: 'task_interrupted',
          task: ts.id,
          phase: ts.phase,
          message: `found running (attempt ${ts.attempts}) though no apply runs it: the apply that ran it stopped; it resumes`,
        })
      }
    })
  }

  // ---- progress

  private progress(taskId: string, attempt: number, p: TaskProgress): void {
    const at = now()
    this.opts.ui?.emit?.({kind: 'progress', workflow: this.writer.value.id, task: taskId, at, progress: p})
    let slot = this.progressSlots.get(taskId)
    if (!slot) {
      slot = new ProgressThrottle(this.opts.progressIntervalMs ?? 1000, (pending) => {
        void this.writer
          .mutate((wf) => {
            const ts = wf.tasks[taskId]
            if (!(ts?.state === 'running' && ts.attempts === attempt)) return SKIP
            ts.progress = pending
          })
          .catch((e) => this.fail(e))
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

  // ---- wake-ups

  private bump(): void {
    this.changes++
    for (const w of [...this.waiters]) w()
    this.waiters.clear()
  }

  private waitChange(seen: number): Promise<void> {
    if (this.changes !== seen || this.controller.signal.aborted) return Promise.resolve()
    return new Promise((resolve) => this.waiters.add(resolve))
  }

  private emitNewEvents(): void {
    const emit = this.opts.ui?.emit
    const events = this.writer.value.events
    if (emit) {
      for (let i = this.emitted; i < events.length; i++)
        emit({kind: 'event', workflow: this.writer.value.id, event: events[i]!})
    }
    this.emitted = events.length
  }
}

const MAX_TRANSIENT_RETRIES = 30

function isTopologyUnavailable(e: unknown): boolean {
  return isErrorCode(e, 'unavailable')
}

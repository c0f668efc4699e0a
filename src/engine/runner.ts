// The workflow runner: phases in plan order, tasks in parallel (bounded) or one at a time, gates before tasks, every
// state change written (CAS) to the workflow record before it is acted on. Call it with the keyspace lock held.
import {errorMessage, isErrorCode} from '../errors.js'
import type {PlanPhase, PlanTask} from '../plan/types.js'
import {SKIP, WRITER_UNAVAILABLE, type WorkflowWriter} from './writer.js'
import {startNow, type Cohort} from './cohorts.js'
import {GateKeeper} from './gate-wait.js'
import {TaskExecutor} from './task-exec.js'
import type {Runtime, TaskProgress, TaskState, WorkflowEvent, WorkflowRecord} from './types.js'
import {
  addEvent,
  EngineError,
  openGate,
  openStage,
  retryCommand,
  taskCleared,
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
  private readonly gates: GateKeeper
  private readonly tasks: TaskExecutor

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
    const signal = this.controller.signal
    this.gates = new GateKeeper({
      ...opts,
      askGate: opts.ui?.askGate,
      signal,
      waitChange: (seen) => this.waitChange(seen),
    })
    this.tasks = new TaskExecutor({
      ...opts,
      signal,
      fatal: () => this.fatal,
      fail: (e) => this.fail(e),
      emitProgress: (task, at, progress) =>
        opts.ui?.emit?.({kind: 'progress', workflow: this.writer.value.id, task, at, progress}),
    })
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
      this.tasks.stopAll()
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
        const stop = await this.gates.at(phase, stage, seen)
        if (stop) return {state: 'waiting', wf: this.writer.value, stage: stop}
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

  // ---- tasks

  private readonly cohortOf = new Map<string, Cohort>()

  private start(phase: PlanPhase, t: PlanTask, running: Map<string, Promise<void>>, cohort?: Cohort): void {
    if (cohort) this.cohortOf.set(t.id, cohort)
    const p = this.tasks
      .run(phase, t, cohort)
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

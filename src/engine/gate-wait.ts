// What the runner does at an open gate: approve it (auto-approve), ask on the TTY, stop (no-wait), or wait for an
// approval written elsewhere (approve command, dashboard). The tasks of the stage are marked waiting_approval once.
import type {PlanPhase} from '../plan/types.js'
import {SKIP, type WorkflowWriter} from './writer.js'
import {
  addEvent,
  approve,
  approveCommand,
  describeStage,
  isApproved,
  openStage,
  type CommandHints,
  type GateStage,
} from './workflow.js'

export interface GateOptions {
  writer: WorkflowWriter
  who: string
  autoApprove?: boolean
  noWait?: boolean
  hints?: CommandHints
  /** Ask on the TTY; resolve true to approve. `signal` aborts when approved elsewhere or stopping. */
  askGate?: (stage: GateStage, signal: AbortSignal) => Promise<boolean>
  /** The runner's signal (Ctrl-C, lock lost). */
  signal: AbortSignal
  /** Resolves on the next change of the record (or at once if one came after `seen`). */
  waitChange: (seen: number) => Promise<void>
}

export class GateKeeper {
  private waitingFor?: string

  constructor(private readonly o: GateOptions) {}

  /** Returns the stage when the runner should stop there (declined, or no-wait); undefined to look again. */
  async at(phase: PlanPhase, stage: GateStage, seen: number): Promise<GateStage | undefined> {
    const {writer, who} = this.o
    if (this.o.autoApprove) {
      await writer.mutate((wf) => {
        if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
        approve(wf, {phase: phase.name, stage: stage.stage, by: who, via: 'auto-approve'})
      })
      return undefined
    }
    if (this.waitingFor !== stage.gate) {
      this.waitingFor = stage.gate
      const command = approveCommand(writer.value.keyspace, stage, this.o.hints)
      await writer.mutate((wf) => {
        if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
        wf.state = 'waiting'
        for (const t of stage.tasks) if (wf.tasks[t]!.state === 'pending') wf.tasks[t]!.state = 'waiting_approval'
        addEvent(wf, {
          who,
          type: 'waiting',
          phase: phase.name,
          message: `waiting for approval: ${describeStage(stage)} — run: ${command}`,
        })
      })
      if (openStage(writer.value, phase)?.gate !== stage.gate) return undefined
    }
    if (this.o.askGate) return this.ask(phase, stage)
    if (this.o.noWait) return stage
    await this.o.waitChange(seen)
    return undefined
  }

  private async ask(phase: PlanPhase, stage: GateStage): Promise<GateStage | undefined> {
    const {writer, signal} = this.o
    const ac = new AbortController()
    const stop = () => ac.abort()
    const off = writer.onChange((wf) => {
      if (stage.tasks.every((t) => isApproved(wf, t))) stop()
    })
    signal.addEventListener('abort', stop, {once: true})
    let yes: boolean
    try {
      yes = await this.o.askGate!(stage, ac.signal)
    } catch (e) {
      if (!ac.signal.aborted) throw e
      return undefined // approved elsewhere, or stopping: the loop sees which
    } finally {
      off()
      signal.removeEventListener('abort', stop)
    }
    if (ac.signal.aborted) return undefined
    if (!yes) return stage
    await writer.mutate((wf) => {
      if (openStage(wf, phase)?.gate !== stage.gate) return SKIP
      approve(wf, {phase: phase.name, stage: stage.stage, by: this.o.who, via: 'tty'})
    })
    return undefined
  }
}

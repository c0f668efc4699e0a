// Following a workflow that servers run: print its events as they are recorded, answer its gates on a terminal (the
// approval is recorded; a server acts on it), and end like apply ends: done, failed, waiting (--no-wait), or left
// (Ctrl-C stops only the follower).
import type {ApplyResult, ApplyUI} from './apply.js'
import {SKIP, WorkflowWriter} from './writer.js'
import type {WorkflowRecord} from './types.js'
import {approve, isApproved, openGate, type GateStage} from './workflow.js'

export interface FollowOptions {
  /** The workflow to follow. */
  workflow: string
  /** Print recorded events from this index on (0: all, from `created`). */
  emitFrom: number
  /** Ctrl-C: stop following (not the workflow). */
  signal: AbortSignal
  ui?: Pick<ApplyUI, 'emit' | 'askGate' | 'info'>
  /** At a gate nobody here may answer: return `waiting` instead of waiting for `approve` from elsewhere. */
  noWait?: boolean
  /** Approve each gate as it opens (recorded as auto-approve). */
  autoApprove?: boolean
  /** user@host, for approvals. */
  who: string
}

export async function follow(store: Parameters<typeof WorkflowWriter.load>[0], o: FollowOptions): Promise<ApplyResult> {
  const writer = await WorkflowWriter.load(store, o.workflow)
  let emitted = o.emitFrom
  const progressAt = new Map<string, string>()
  let asked: string | undefined
  let changed: () => void = () => undefined
  const off = writer.onChange(() => changed())
  await writer.watch()
  // A watch may miss nothing, but a server's restart is no reason to trust it blindly: look again now and then.
  const timer = setInterval(() => void writer.refresh().catch(() => undefined), 5000)
  const emit = (wf: WorkflowRecord) => {
    for (; emitted < wf.events.length; emitted++)
      o.ui?.emit?.({kind: 'event', workflow: wf.id, event: wf.events[emitted]!})
    for (const t of Object.values(wf.tasks)) {
      if (t.state !== 'running' || !t.progress || progressAt.get(t.id) === t.progress.at) continue
      progressAt.set(t.id, t.progress.at)
      const {at, ...progress} = t.progress
      o.ui?.emit?.({kind: 'progress', workflow: wf.id, task: t.id, at, progress})
    }
  }
  const approveStage = (stage: GateStage, via: 'tty' | 'auto-approve') =>
    writer.mutate((wf) => {
      if (openGate(wf)?.gate !== stage.gate) return SKIP
      approve(wf, {phase: stage.phase, stage: stage.stage, by: o.who, via})
    })
  try {
    for (;;) {
      const next = new Promise<void>((r) => (changed = r))
      const wf = writer.value
      emit(wf)
      if (wf.state === 'done') return {state: 'done', wf}
      if (wf.state === 'cancelled') return {state: 'already_done', wf}
      if (wf.state === 'failed') {
        return {state: 'failed', wf, failed: Object.values(wf.tasks).filter((t) => t.state === 'failed')}
      }
      const gate = wf.state === 'waiting' ? openGate(wf) : undefined
      if (gate && o.autoApprove) {
        await approveStage(gate, 'auto-approve')
        continue
      }
      if (gate && o.ui?.askGate && asked !== gate.gate) {
        asked = gate.gate
        const ac = new AbortController()
        const stop = () => ac.abort()
        const offAsk = writer.onChange((w) => gate.tasks.every((t) => isApproved(w, t)) && stop())
        o.signal.addEventListener('abort', stop, {once: true})
        let yes = false
        try {
          yes = await o.ui.askGate(gate, ac.signal)
        } catch (e) {
          if (!ac.signal.aborted) throw e
        } finally {
          offAsk()
          o.signal.removeEventListener('abort', stop)
        }
        if (o.signal.aborted) return {state: 'left', wf: writer.value}
        if (ac.signal.aborted) continue
        if (!yes) return {state: 'waiting', wf: writer.value, stage: gate}
        await approveStage(gate, 'tty')
        continue
      }
      if (gate && o.noWait && !o.ui?.askGate) return {state: 'waiting', wf, stage: gate}
      if (o.signal.aborted) return {state: 'left', wf}
      await new Promise<void>((resolve) => {
        const done = () => {
          o.signal.removeEventListener('abort', done)
          resolve()
        }
        o.signal.addEventListener('abort', done, {once: true})
        void next.then(done)
      })
    }
  } finally {
    clearInterval(timer)
    off()
    writer.unwatch()
  }
}

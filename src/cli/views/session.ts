// The terminal side of apply/retry: the view, questions on a TTY, Ctrl-C, and what each outcome prints and exits
// with. The engine calls back through ApplyUI and knows nothing of this.
import type {ApplyResult, ApplyUI} from '../../engine/apply.js'
import {
  approveCommand,
  describeStage,
  plural,
  resumeCommand,
  retryCommand,
  shellQuote,
  type CommandHints,
  type GateStage,
} from '../../engine/workflow.js'
import {isErrorCode} from '../../errors.js'
import type {WorkflowRecord} from '../../engine/types.js'
import {liveStreams} from '../../phases/streams/live.js'
import type {ApplyView, RunResult} from './apply.js'
import {askYesNo, ask, canPrompt, PROMPT_INTERRUPTED} from './prompt.js'

export const EXIT = {ok: 0, error: 1, waiting: 3, interrupted: 130} as const

export interface SessionOptions {
  /** What the run shows (the command chooses: applyView()). */
  view: ApplyView
  /** Questions go to stderr when stdout carries JSON. */
  json: boolean
  hints: CommandHints
  autoApprove: boolean
  topoUrl: string
  /** Override for tests; default: stdin is a TTY. */
  interactive?: boolean
  /** Servers run the workflow and this apply follows it: Ctrl-C stops only the following. */
  following?: boolean
}

export interface Session {
  ui: ApplyUI
  view: ApplyView
  /** Aborted on Ctrl-C / SIGTERM (or Ctrl-C at a question). */
  signal: AbortSignal
  /** Print the outcome; returns the exit code. */
  finish(result: ApplyResult): number
  dispose(): void
}

export function startSession(opts: SessionOptions): Session {
  const interactive = (opts.interactive ?? canPrompt()) && !opts.autoApprove
  const {view} = opts
  const promptOut = opts.json ? process.stderr : process.stdout
  const ac = new AbortController()
  let signals = 0
  const onSignal = (sig: NodeJS.Signals) => {
    signals++
    if (signals === 1 && opts.following) {
      process.stderr.write(
        `\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: no longer following; the workflow goes on on the servers.\n`,
      )
      ac.abort(new Error(`interrupted (${sig})`))
    } else if (signals === 1) {
      process.stderr.write(
        `\n${sig === 'SIGINT' ? 'Ctrl-C' : sig}: stopping at a safe point (press Ctrl-C again to exit at once; the workflow resumes either way)…\n`,
      )
      ac.abort(new Error(`interrupted (${sig})`))
    } else {
      process.stderr.write(`Stopped. Resume with: ${resumeCommand(opts.hints)}\n`)
      process.exit(EXIT.interrupted)
    }
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  /** Ask with the live view paused. Ctrl-C at a question stops apply like Ctrl-C anywhere; `onCtrlC` answers for it. */
  const question = async <T>(fn: () => Promise<T>, onCtrlC?: T, quiet = false): Promise<T> => {
    view.suspend()
    try {
      return await fn()
    } catch (e) {
      if (!isErrorCode(e, PROMPT_INTERRUPTED)) throw e
      if (!quiet) onSignal('SIGINT')
      if (onCtrlC === undefined) throw e
      return onCtrlC
    } finally {
      view.resume()
    }
  }

  const ui: ApplyUI = {
    emit: (ev) => view.emit(ev),
    info: (m) => view.info(m),
    showPlan: (p, source) => view.plan(p, source, opts.topoUrl),
    ...(interactive
      ? {
          confirm: () =>
            question(
              async () => {
                const a = await ask(`\nDo you want to perform these actions? Only 'yes' will be accepted:`, {
                  output: promptOut,
                  signal: ac.signal,
                })
                return a === 'yes'
              },
              false,
              true,
            ), // nothing started yet: Ctrl-C is a "no"

          askGate: (stage, signal) => question(() => askYesNo(gateQuestion(stage), {output: promptOut, signal})),
          offerRetry: (task) =>
            question(() => askYesNo(`Retry ${task.id}? yes/no`, {output: promptOut, signal: ac.signal}), false),
        }
      : {}),
  }

  const finish = (r: ApplyResult): number => {
    const {code, lines, err} = describeResult(r, opts.hints)
    const result: RunResult = {state: r.state, exitCode: code, lines, errors: err}
    if ('wf' in r) result.workflow = r.wf.id
    view.result(result)
    return code
  }

  return {
    ui,
    view,
    signal: ac.signal,
    finish,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      view.close()
    },
  }
}

function topoFlag(h: CommandHints): string {
  return h.topo ? ` --topo ${shellQuote(h.topo)}` : ''
}

/** The question asked at a gate on a terminal. */
export function gateQuestion(stage: GateStage): string {
  return `Approve ${describeStage(stage)}? yes/no`
}

/** What an outcome prints (stdout lines, stderr lines) and its exit code. */
export function describeResult(r: ApplyResult, hints: CommandHints): {code: number; lines: string[]; err: string[]} {
  switch (r.state) {
    case 'noop':
      return {
        code: EXIT.ok,
        lines: [`No changes. Keyspace ${r.plan.keyspace} matches ${r.plan.desired.file}.`],
        err: [],
      }
    case 'cancelled':
      return {code: EXIT.error, lines: [], err: ['Apply cancelled.']}
    case 'already_done':
      return {code: EXIT.ok, lines: [`Workflow ${r.wf.id} is already ${r.wf.state}; nothing to do.`], err: []}
    case 'recorded':
      return {
        code: EXIT.ok,
        lines: [
          `Workflow ${r.wf.id} ${r.created ? 'recorded' : 'is unfinished'}; the servers run it (see shardform server list${topoFlag(hints)}).`,
          `Follow it with: shardform status ${r.wf.keyspace}${topoFlag(hints)} --watch`,
          `Gates wait for: shardform approve ${r.wf.keyspace}${topoFlag(hints)}`,
        ],
        err: [],
      }
    case 'left':
      return {
        code: EXIT.interrupted,
        lines: [],
        err: [
          `Stopped following workflow ${r.wf.id} (only this command stopped): the servers keep running it.`,
          `Follow it again with: shardform status ${r.wf.keyspace}${topoFlag(hints)} --watch`,
        ],
      }
    case 'done': {
      const n = Object.keys(r.wf.tasks).length
      return {
        code: EXIT.ok,
        lines: [
          `Apply complete! Workflow ${r.wf.id} done: ${plural(n, 'task')} in ${plural(r.wf.plan.phases.length, 'phase')}.`,
        ],
        err: [],
      }
    }
    case 'failed': {
      const err = [`Error: workflow ${r.wf.id} stopped: ${plural(r.failed.length, 'task')} failed.`]
      for (const t of r.failed) {
        err.push(`  ${t.id} (attempt ${t.attempts}): ${t.error ?? 'failed'}`)
        err.push(`  retry it with: ${retryCommand(r.wf.keyspace, t.id, hints)}`)
      }
      return {code: EXIT.error, lines: [], err: [...err, ...pausedReplication(r.wf)]}
    }
    case 'waiting':
      return {
        code: EXIT.waiting,
        lines: [
          `Workflow ${r.wf.id} is waiting for approval: ${describeStage(r.stage)}.`,
          `Approve with: ${approveCommand(r.wf.keyspace, r.stage, hints)}`,
          `then continue with: ${resumeCommand(hints)}`,
          ...pausedReplication(r.wf),
        ],
        err: [],
      }
    case 'interrupted': {
      if (isErrorCode(r.reason, 'lock_lost')) {
        return {code: EXIT.error, lines: [], err: [`Error: ${(r.reason as Error).message}`]}
      }
      return {
        code: EXIT.interrupted,
        lines: [],
        err: [`Stopped. Resume with: ${resumeCommand(hints)}`, ...pausedReplication(r.wf)],
      }
    }
  }
}

/**
 * Streams run only inside a running apply: say which ones stop with it, and what that means for the shards they
 * feed (those may already serve reads).
 */
export function pausedReplication(wf: WorkflowRecord): string[] {
  const {forward, reverse} = liveStreams(wf)
  const g = wf.plan.groups
  const flows = [
    ...forward.map((i) => `${g[i]!.sources.join(', ')} → ${g[i]!.destinations.join(', ')}`),
    ...reverse.map((i) => `${g[i]!.destinations.join(', ')} → ${g[i]!.sources.join(', ')} (reverse)`),
  ]
  if (!flows.length) return []
  return [
    `Replication ${flows.join('; ')} is paused until apply runs again or a shardform server is started: the shards it feeds fall behind meanwhile, and reads they already serve are stale.`,
  ]
}

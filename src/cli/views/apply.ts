// What `apply` and `retry` show while they run (after Terraform's views): one ApplyView interface, with a live tree on
// a TTY, plain timestamped lines otherwise, and JSON lines with --json. The command chooses; the engine only emits.
import type {RunnerEvent} from '../../engine/runner.js'
import type {TaskProgress, WorkflowEvent, WorkflowSource} from '../../engine/types.js'
import {planToJSON} from '../../plan/render.js'
import type {Plan} from '../../plan/types.js'
import type {Colors} from '../../util/color.js'
import {clock, eventText, formatProgress} from './format.js'
import {renderPlanText} from './plan-text.js'

/** How a run ended, as the session words it. */
export interface RunResult {
  state: string
  exitCode: number
  workflow?: string
  /** For stdout. */
  lines: string[]
  /** For stderr. */
  errors: string[]
}

export interface ApplyView {
  emit(ev: RunnerEvent): void
  info(message: string): void
  plan(p: Plan, source: WorkflowSource, topoUrl: string): void
  /** How the run ended (the last thing shown). */
  result(r: RunResult): void
  /** Stop redrawing while a question is open. */
  suspend(): void
  resume(): void
  close(): void
}

// ---- plain lines (no TTY)

export class PlainApplyView implements ApplyView {
  private readonly lastProgress = new Map<string, number>()
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly colors: Colors,
    private readonly progressEveryMs = 5000,
  ) {}

  emit(ev: RunnerEvent): void {
    if (ev.kind === 'progress') {
      const last = this.lastProgress.get(ev.task) ?? 0
      const now = Date.now()
      if (now - last < this.progressEveryMs) return
      this.lastProgress.set(ev.task, now)
      this.write(`[${clock(ev.at)}] ${ev.task}: ${formatProgress(ev.progress)}`)
      return
    }
    const e = ev.event
    if (e.type === 'resumed') return // said by info()
    if (e.type === 'task_started') this.lastProgress.set(e.task ?? '', Date.now())
    this.write(`[${clock(e.at)}] ${paintEvent(this.colors, e, eventText(e))}`)
  }

  info(message: string): void {
    this.write(message)
  }

  plan(p: Plan, source: WorkflowSource, topoUrl: string): void {
    if (source.kind === 'layout') this.write(renderPlanText(p, this.colors, topoUrl).trimEnd())
    else
      this.write(
        `Applying saved plan ${source.file} (made ${p.created_at} from ${p.desired.file}): ${p.summary.tasks} tasks in ${p.phases.length} phases.`,
      )
  }

  result(r: RunResult): void {
    for (const l of r.lines) this.write(l)
    for (const l of r.errors) process.stderr.write(l + '\n')
  }

  suspend(): void {}
  resume(): void {}
  close(): void {}

  private write(s: string): void {
    this.out.write(s.endsWith('\n') ? s : s + '\n')
  }
}

function paintEvent(c: Colors, e: WorkflowEvent, text: string): string {
  if (e.type === 'task_failed' || e.type === 'failed' || e.type === 'check_failed') return c.red(text)
  if (e.type === 'task_done' || e.type === 'done' || e.type === 'phase_done') return c.green(text)
  if (e.type === 'waiting') return c.yellow(text)
  if (e.type === 'phase_started') return c.bold(text)
  return text
}

// ---- live tree (TTY)

interface LiveTask {
  id: string
  since: string
  progress?: TaskProgress
}

export class TtyApplyView implements ApplyView {
  private readonly running = new Map<string, LiveTask>()
  private drawn = 0
  private timer?: NodeJS.Timeout
  private lastDraw = 0
  private suspended = false
  private phase?: string

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly colors: Colors,
    private readonly minRedrawMs = 250,
  ) {}

  emit(ev: RunnerEvent): void {
    if (ev.kind === 'progress') {
      const t = this.running.get(ev.task)
      if (t) t.progress = ev.progress
      this.schedule()
      return
    }
    const e = ev.event
    if (e.type === 'resumed') return
    if (e.type === 'phase_started') this.phase = e.phase
    if (e.type === 'task_started' && e.task) this.running.set(e.task, {id: e.task, since: e.at})
    if ((e.type === 'task_done' || e.type === 'task_failed' || e.type === 'task_interrupted') && e.task)
      this.running.delete(e.task)
    this.print(`[${clock(e.at)}] ${paintEvent(this.colors, e, eventText(e))}`)
  }

  info(message: string): void {
    this.print(message)
  }

  plan(p: Plan, source: WorkflowSource, topoUrl: string): void {
    if (source.kind === 'layout') this.print(renderPlanText(p, this.colors, topoUrl).trimEnd())
    else
      this.print(
        `Applying saved plan ${source.file} (made ${p.created_at} from ${p.desired.file}): ${p.summary.tasks} tasks in ${p.phases.length} phases.`,
      )
  }

  result(r: RunResult): void {
    for (const l of r.lines) this.print(l)
    this.close()
    for (const l of r.errors) process.stderr.write(l + '\n')
  }

  suspend(): void {
    this.clear()
    this.suspended = true
  }

  resume(): void {
    this.suspended = false
    this.draw()
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    this.clear()
    this.running.clear()
  }

  /** Print a line above the live area. */
  private print(s: string): void {
    this.clear()
    this.out.write(s.endsWith('\n') ? s : s + '\n')
    this.draw()
  }

  private schedule(): void {
    if (this.timer || this.suspended) return
    const wait = Math.max(0, this.lastDraw + this.minRedrawMs - Date.now())
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.clear()
      this.draw()
    }, wait)
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\u001b[${this.drawn}A\u001b[0J`)
    this.drawn = 0
  }

  private draw(): void {
    if (this.suspended || this.running.size === 0) return
    const width = this.out.columns || 100
    const lines = [this.colors.dim(`  running${this.phase ? ` (${this.phase})` : ''}:`)]
    // Redrawn in place: never more lines than the terminal has (a 256-way clone runs 256 tasks at once).
    const room = Math.max(3, (this.out.rows || 24) - 6)
    const running = [...this.running.values()]
    for (const t of running.slice(0, running.length > room ? room - 1 : room)) {
      const secs = Math.round((Date.now() - Date.parse(t.since)) / 1000)
      const text = `    ▸ ${t.id}  ${formatProgress(t.progress, '  ') || `${secs}s`}`
      lines.push(text.length > width - 1 ? text.slice(0, width - 2) + '…' : text)
    }
    if (running.length > room) lines.push(this.colors.dim(`    … and ${running.length - room + 1} more running`))
    this.out.write(lines.join('\n') + '\n')
    this.drawn = lines.length
    this.lastDraw = Date.now()
  }
}

// ---- JSON lines (--json)

export class JsonApplyView implements ApplyView {
  constructor(private readonly out: NodeJS.WritableStream) {}

  emit(ev: RunnerEvent): void {
    if (ev.kind === 'progress')
      this.write({type: 'progress', workflow: ev.workflow, at: ev.at, task: ev.task, ...ev.progress})
    else {
      const {type, ...rest} = ev.event
      this.write({type, workflow: ev.workflow, ...rest})
    }
  }

  info(message: string): void {
    this.write({type: 'info', at: new Date().toISOString(), message})
  }

  plan(p: Plan, source: WorkflowSource): void {
    this.write({type: 'plan', source, plan: planToJSON(p)})
  }

  result(r: RunResult): void {
    this.write({
      type: 'result',
      state: r.state,
      exit_code: r.exitCode,
      ...(r.workflow ? {workflow: r.workflow} : {}),
      message: [...r.lines, ...r.errors].join('\n'),
    })
  }

  suspend(): void {}
  resume(): void {}
  close(): void {}

  private write(v: Record<string, unknown>): void {
    this.out.write(JSON.stringify(v) + '\n')
  }
}

export type ApplyViewKind = 'json' | 'tty' | 'plain'

/** The view for an output: JSON lines when asked, the live tree on a terminal, plain lines otherwise. */
export function applyView(kind: ApplyViewKind, out: NodeJS.WriteStream, c: Colors): ApplyView {
  if (kind === 'json') return new JsonApplyView(out)
  return kind === 'tty' ? new TtyApplyView(out, c) : new PlainApplyView(out, c)
}

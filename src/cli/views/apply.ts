// What `apply` prints while it runs: a live tree on a TTY, plain timestamped lines otherwise, JSON lines with --json.
// Rendering only; the runner knows nothing of it.
import {planToJSON, renderPlanText} from '../plan/render.js'
import type {Plan} from '../plan/types.js'
import type {Colors} from '../util/color.js'
import {printable} from '../util/printable.js'
import type {RunnerEvent} from './runner.js'
import type {TaskProgress, WorkflowEvent, WorkflowSource} from './types.js'

export interface ApplyRenderer {
  emit(ev: RunnerEvent): void
  info(message: string): void
  plan(p: Plan, source: WorkflowSource, topoUrl: string): void
  /** Print a final line (result, error hint). */
  line(text: string): void
  /** Stop redrawing while a question is open. */
  suspend(): void
  resume(): void
  close(): void
}

// ---- shared formatting

export function clock(iso: string | undefined): string {
  if (!iso) return '--:--:--'
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`
}

/** "2026-11-26 10:15:00" in local time. */
export function dateTime(iso: string | undefined): string {
  if (!iso) return '-'
  const d = new Date(iso)
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(iso)}`
}

function num(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(1)
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?'
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** "120000/1000000 rows, 98000 rows/s, ETA 9s, lag 0.4s" */
export function formatProgress(p: TaskProgress | undefined, sep = ', '): string {
  if (!p) return ''
  const unit = p.unit ?? ''
  const parts: string[] = []
  if (p.done !== undefined)
    parts.push(`${num(p.done)}${p.total !== undefined ? `/${num(p.total)}` : ''}${unit ? ` ${unit}` : ''}`)
  if (p.rate !== undefined) parts.push(`${num(Math.round(p.rate))} ${unit || 'items'}/s`)
  if (p.etaSeconds !== undefined) parts.push(`ETA ${formatSeconds(p.etaSeconds)}`)
  if (p.lagSeconds !== undefined) parts.push(`lag ${num(p.lagSeconds)}s`)
  if (p.lagEvents !== undefined) parts.push(`${num(p.lagEvents)} events behind`)
  if (p.message) parts.push(printable(p.message))
  return parts.join(sep)
}

/** One human line for a workflow event (without the time). Messages can quote names read from MySQL (tables,
 * triggers): control characters in them are shown escaped, never sent raw to the terminal. */
export function eventText(e: WorkflowEvent): string {
  const msg = printable(e.message)
  switch (e.type) {
    case 'task_started':
    case 'task_done':
    case 'task_interrupted':
    case 'task_failed':
    case 'log':
      return `${e.task}: ${msg}`
    case 'waiting':
      return msg.replace(/^waiting for approval/, 'Waiting for approval')
    case 'approved':
      return `${msg.replace(/^approved/, 'Approved')} by ${e.who}`
    default:
      return msg.charAt(0).toUpperCase() + msg.slice(1)
  }
}

// ---- plain lines (no TTY)

export class PlainRenderer implements ApplyRenderer {
  private readonly lastProgress = new Map<string, number>()
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly c: Colors,
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
    this.write(`[${clock(e.at)}] ${paintEvent(this.c, e, eventText(e))}`)
  }

  info(message: string): void {
    this.write(message)
  }

  plan(p: Plan, source: WorkflowSource, topoUrl: string): void {
    if (source.kind === 'layout') this.write(renderPlanText(p, this.c, topoUrl).trimEnd())
    else
      this.write(
        `Applying saved plan ${source.file} (made ${p.created_at} from ${p.desired.file}): ${p.summary.tasks} tasks in ${p.phases.length} phases.`,
      )
  }

  line(text: string): void {
    this.write(text)
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

export class TtyRenderer implements ApplyRenderer {
  private readonly running = new Map<string, LiveTask>()
  private drawn = 0
  private timer?: NodeJS.Timeout
  private lastDraw = 0
  private suspended = false
  private phase?: string

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly c: Colors,
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
    this.print(`[${clock(e.at)}] ${paintEvent(this.c, e, eventText(e))}`)
  }

  info(message: string): void {
    this.print(message)
  }

  plan(p: Plan, source: WorkflowSource, topoUrl: string): void {
    if (source.kind === 'layout') this.print(renderPlanText(p, this.c, topoUrl).trimEnd())
    else
      this.print(
        `Applying saved plan ${source.file} (made ${p.created_at} from ${p.desired.file}): ${p.summary.tasks} tasks in ${p.phases.length} phases.`,
      )
  }

  line(text: string): void {
    this.print(text)
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
    const lines = [this.c.dim(`  running${this.phase ? ` (${this.phase})` : ''}:`)]
    for (const t of this.running.values()) {
      const secs = Math.round((Date.now() - Date.parse(t.since)) / 1000)
      const text = `    ▸ ${t.id}  ${formatProgress(t.progress, '  ') || `${secs}s`}`
      lines.push(text.length > width - 1 ? text.slice(0, width - 2) + '…' : text)
    }
    this.out.write(lines.join('\n') + '\n')
    this.drawn = lines.length
    this.lastDraw = Date.now()
  }
}

// ---- JSON lines (--json)

export class JsonRenderer implements ApplyRenderer {
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

  line(): void {}
  suspend(): void {}
  resume(): void {}
  close(): void {}

  /** A final object ({type: 'result', …}). */
  object(v: Record<string, unknown>): void {
    this.write(v)
  }

  private write(v: Record<string, unknown>): void {
    this.out.write(JSON.stringify(v) + '\n')
  }
}

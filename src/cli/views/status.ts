// What `status` (the workflow tree) and `history` (the audit trail) show: one view interface each, as text or JSON.
import {
  STATUS_FORMAT_VERSION,
  type HistoryEntry,
  type PhaseStatus,
  type TaskStatus,
  type WorkflowStatus,
} from '../../engine/status.js'
import type {Colors} from '../../util/color.js'
import {table} from '../../util/table.js'
import {clock, dateTime, eventText, formatProgress} from './format.js'

export interface StatusView {
  /** Show the workflows; `again` is true on a --watch redraw. */
  show(all: WorkflowStatus[], topoUrl: string, again: boolean): void
}

export interface HistoryView {
  show(keyspace: string, entries: HistoryEntry[], topoUrl: string): void
}

/** The status tree; with `watch`, a terminal is cleared before each redraw (a pipe gets a blank line between). */
export class TextStatusView implements StatusView {
  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly colors: Colors,
    private readonly watch = false,
  ) {}

  show(all: WorkflowStatus[], topoUrl: string, again: boolean): void {
    if (this.watch && this.out.isTTY) this.out.write('\u001b[H\u001b[2J')
    else if (again) this.out.write('\n')
    this.out.write(renderStatus(all, this.colors, topoUrl).trimEnd() + '\n')
  }
}

/** The `status --json` document (one line per redraw with --watch). */
export class JsonStatusView implements StatusView {
  constructor(
    private readonly out: NodeJS.WritableStream,
    private readonly watch = false,
  ) {}

  show(all: WorkflowStatus[], topoUrl: string): void {
    const doc = {format_version: STATUS_FORMAT_VERSION, topology: topoUrl, workflows: all}
    this.out.write((this.watch ? JSON.stringify(doc) : JSON.stringify(doc, null, 2)) + '\n')
  }
}

export class TextHistoryView implements HistoryView {
  constructor(private readonly out: NodeJS.WritableStream) {}

  show(keyspace: string, entries: HistoryEntry[], topoUrl: string): void {
    const text = entries.length ? renderHistory(entries) : `No workflows for keyspace ${keyspace} in ${topoUrl}.`
    this.out.write(text.endsWith('\n') ? text : text + '\n')
  }
}

export class JsonHistoryView implements HistoryView {
  constructor(private readonly out: NodeJS.WritableStream) {}

  show(keyspace: string, events: HistoryEntry[]): void {
    this.out.write(JSON.stringify({keyspace, events}, null, 2) + '\n')
  }
}

const PHASE_MARK: Record<PhaseStatus['state'], string> = {
  done: '✓',
  running: '▸',
  waiting: '?',
  failed: '✗',
  pending: '·',
}
const TASK_MARK: Record<TaskStatus['state'], string> = {
  done: '✓',
  running: '▸',
  waiting_approval: '?',
  failed: '✗',
  pending: '·',
}

function when(iso: string): string {
  const d = new Date(iso)
  const today = new Date()
  return d.toDateString() === today.toDateString() ? clock(iso) : dateTime(iso)
}

function paintState(colors: Colors, s: string): string {
  if (s === 'done') return colors.green(s)
  if (s === 'failed') return colors.red(s)
  if (s === 'waiting' || s === 'waiting_approval' || s === 'paused') return colors.yellow(s.replace('_', ' '))
  if (s === 'running') return colors.cyan(s)
  return s
}

export function renderWorkflowStatus(status: WorkflowStatus, colors: Colors): string {
  const out: string[] = []
  const ended = status.finished_at ? `, finished ${when(status.finished_at)}` : ''
  out.push(
    `${colors.bold(`Workflow ${status.id}`)}  ${paintState(colors, status.state)}  (applying ${status.layout}, started ${when(status.created_at)} by ${status.created_by}${ended})`,
  )
  if (status.lock?.server)
    out.push(
      `  Run by server ${status.lock.server} (${status.lock.who}) since ${when(status.lock.created)} (lock ${status.lock.id})`,
    )
  else if (status.lock)
    out.push(
      `  Lock ${status.lock.id}: held by ${status.lock.who} for "${status.lock.operation}" since ${when(status.lock.created)}`,
    )
  else if (status.stopped)
    out.push(
      colors.yellow(`  No apply is running it (it stopped: crash or Ctrl-C); resume with: ${status.resume_command}`),
    )
  else if (!status.finished && status.resume_command && status.state !== 'failed')
    out.push(`  No apply is running it; continue with: ${status.resume_command}`)
  const width = Math.max(28, ...status.phases.map((p) => p.name.length + 2))
  const taskWidth = Math.max(20, ...status.phases.flatMap((p) => p.tasks.map((t) => t.id.length + 2)))
  for (const ph of status.phases) {
    const show = ph.state !== 'done' && ph.state !== 'pending'
    const right = show ? `${ph.mode}, gate ${ph.gate}` : paintState(colors, ph.state)
    out.push(`  ${PHASE_MARK[ph.state]} ${ph.name.padEnd(width)} ${right}`)
    if (!show) continue
    for (const t of ph.tasks) {
      const attempt = t.attempts > 1 ? ` (attempt ${t.attempts})` : ''
      const prog = t.state === 'running' || (t.progress && t.state !== 'done') ? formatProgress(t.progress, '  ') : ''
      const extra = prog && t.state !== 'failed' ? `  ${prog}` : ''
      const on = t.server && t.state === 'running' ? ` on server ${t.server}` : ''
      out.push(
        `      ${TASK_MARK[t.state]} ${t.id.padEnd(taskWidth)} ${paintState(colors, t.state)}${on}${attempt}${extra}`,
      )
    }
  }
  if (status.streams) {
    const live = Boolean(status.lock)
    out.push(
      `  Filtered replication (as of ${when(status.streams.updated_at)}${live ? '' : '; streams run only while an apply runs'}):`,
    )
    for (const s of status.streams.streams) {
      const lag =
        s.lagMs !== undefined
          ? `lag ${s.lagMs} ms`
          : s.lagSeconds === undefined
            ? 'lag ?'
            : `lag ${s.lagSeconds.toFixed(1)} s`
      const behind = s.eventsBehind === undefined ? '' : `, ${s.eventsBehind} transaction(s) behind`
      const line = `    ${`${s.source} → ${s.destination}`.padEnd(taskWidth)} ${paintState(colors, s.state)}  ${lag}${behind}; ${s.rowChanges} row change(s) applied${s.server ? ` (server ${s.server})` : ''}`
      out.push(s.error ? colors.red(`${line}; ${s.error}`) : line)
    }
  }
  if (status.waiting)
    out.push(colors.yellow(`  Waiting for approval: ${status.waiting.description} — run: ${status.waiting.command}`))
  for (const f of status.failures) {
    out.push(colors.red(`  ✗ ${f.task}  failed (attempt ${f.attempts}): ${f.error} — retry: ${f.retry_command}`))
  }
  if (!status.finished) out.push(`  ${status.tasks.done}/${status.tasks.total} tasks done`)
  return out.join('\n') + '\n'
}

export function renderStatus(all: WorkflowStatus[], colors: Colors, topoUrl: string): string {
  if (!all.length) return `No workflows in ${topoUrl}.\n`
  return all.map((s) => renderWorkflowStatus(s, colors)).join('\n')
}

export function renderHistory(entries: HistoryEntry[]): string {
  return table(
    ['TIME', 'WORKFLOW', 'WHO', 'EVENT', 'TASK', 'MESSAGE'],
    entries.map((e) => [dateTime(e.at), e.workflow, e.who, e.type, e.task ?? e.phase ?? '', historyMessage(e)]),
  )
}

function historyMessage(e: HistoryEntry): string {
  const t = eventText(e)
  return e.task && t.startsWith(`${e.task}: `) ? t.slice(e.task.length + 2) : t
}

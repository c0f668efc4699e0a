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

function paintState(c: Colors, s: string): string {
  if (s === 'done') return c.green(s)
  if (s === 'failed') return c.red(s)
  if (s === 'waiting' || s === 'waiting_approval' || s === 'paused') return c.yellow(s.replace('_', ' '))
  if (s === 'running') return c.cyan(s)
  return s
}

export function renderWorkflowStatus(st: WorkflowStatus, c: Colors): string {
  const out: string[] = []
  const ended = st.finished_at ? `, finished ${when(st.finished_at)}` : ''
  out.push(
    `${c.bold(`Workflow ${st.id}`)}  ${paintState(c, st.state)}  (applying ${st.layout}, started ${when(st.created_at)} by ${st.created_by}${ended})`,
  )
  if (st.lock)
    out.push(`  Lock ${st.lock.id}: held by ${st.lock.who} for "${st.lock.operation}" since ${when(st.lock.created)}`)
  else if (st.stopped)
    out.push(c.yellow(`  No apply is running it (it stopped: crash or Ctrl-C); resume with: ${st.resume_command}`))
  else if (!st.finished && st.resume_command && st.state !== 'failed')
    out.push(`  No apply is running it; continue with: ${st.resume_command}`)
  const width = Math.max(28, ...st.phases.map((p) => p.name.length + 2))
  const taskWidth = Math.max(20, ...st.phases.flatMap((p) => p.tasks.map((t) => t.id.length + 2)))
  for (const ph of st.phases) {
    const show = ph.state !== 'done' && ph.state !== 'pending'
    const right = show ? `${ph.mode}, gate ${ph.gate}` : paintState(c, ph.state)
    out.push(`  ${PHASE_MARK[ph.state]} ${ph.name.padEnd(width)} ${right}`)
    if (!show) continue
    for (const t of ph.tasks) {
      const attempt = t.attempts > 1 ? ` (attempt ${t.attempts})` : ''
      const prog = t.state === 'running' || (t.progress && t.state !== 'done') ? formatProgress(t.progress, '  ') : ''
      const extra = prog && t.state !== 'failed' ? `  ${prog}` : ''
      out.push(`      ${TASK_MARK[t.state]} ${t.id.padEnd(taskWidth)} ${paintState(c, t.state)}${attempt}${extra}`)
    }
  }
  if (st.streams) {
    const live = Boolean(st.lock)
    out.push(
      `  Filtered replication (as of ${when(st.streams.updated_at)}${live ? '' : '; streams run only while an apply runs'}):`,
    )
    for (const s of st.streams.streams) {
      const lag = s.lagSeconds === undefined ? 'lag ?' : `lag ${s.lagSeconds.toFixed(1)} s`
      const behind = s.eventsBehind === undefined ? '' : `, ${s.eventsBehind} transaction(s) behind`
      const line = `    ${`${s.source} → ${s.destination}`.padEnd(taskWidth)} ${paintState(c, s.state)}  ${lag}${behind}; ${s.rowChanges} row change(s) applied`
      out.push(s.error ? c.red(`${line}; ${s.error}`) : line)
    }
  }
  if (st.waiting) out.push(c.yellow(`  Waiting for approval: ${st.waiting.description} — run: ${st.waiting.command}`))
  for (const f of st.failures) {
    out.push(c.red(`  ✗ ${f.task}  failed (attempt ${f.attempts}): ${f.error} — retry: ${f.retry_command}`))
  }
  if (!st.finished) out.push(`  ${st.tasks.done}/${st.tasks.total} tasks done`)
  return out.join('\n') + '\n'
}

export function renderStatus(all: WorkflowStatus[], c: Colors, topoUrl: string): string {
  if (!all.length) return `No workflows in ${topoUrl}.\n`
  return all.map((s) => renderWorkflowStatus(s, c)).join('\n')
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

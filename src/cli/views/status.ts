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
    /** Every task and stream, however many. */
    private readonly all = false,
  ) {}

  show(statuses: WorkflowStatus[], topoUrl: string, again: boolean): void {
    if (this.watch && this.out.isTTY) this.out.write('\u001b[H\u001b[2J')
    else if (again) this.out.write('\n')
    this.out.write(renderStatus(statuses, this.colors, topoUrl, this.all).trimEnd() + '\n')
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

/**
 * The workflow tree. A phase of more than TASK_LINES tasks lists its failed, waiting and running ones (at most
 * TASK_LINES) and counts the rest, and so do more than TASK_LINES streams, unless `all`: a 256 → 512 split's
 * create_shards phase is 512 tasks.
 */
export function renderWorkflowStatus(status: WorkflowStatus, colors: Colors, all = false): string {
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
    const listed = all || ph.tasks.length <= TASK_LINES ? ph.tasks : notableTasks(ph.tasks)
    for (const t of listed) {
      const attempt = t.attempts > 1 ? ` (attempt ${t.attempts})` : ''
      const prog = t.state === 'running' || (t.progress && t.state !== 'done') ? formatProgress(t.progress, '  ') : ''
      const extra = prog && t.state !== 'failed' ? `  ${prog}` : ''
      const on = t.server && t.state === 'running' ? ` on server ${t.server}` : ''
      out.push(
        `      ${TASK_MARK[t.state]} ${t.id.padEnd(taskWidth)} ${paintState(colors, t.state)}${on}${attempt}${extra}`,
      )
    }
    if (listed.length < ph.tasks.length) out.push(colors.dim(`      … ${hiddenSummary(ph.tasks, listed)}`))
  }
  if (status.streams) {
    const live = Boolean(status.lock)
    out.push(
      `  Filtered replication (as of ${when(status.streams.updated_at)}${live ? '' : '; streams run only while an apply runs'}):`,
    )
    const streams = status.streams.streams
    const listedStreams = all || streams.length <= TASK_LINES ? streams : notableStreams(streams)
    for (const s of listedStreams) {
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
    if (listedStreams.length < streams.length) {
      const hidden = streams.filter((s) => !listedStreams.includes(s))
      const failed = hidden.filter((s) => s.error).length
      const rest = failed ? `${failed} of them failed` : 'none failed, none further behind'
      out.push(colors.dim(`    … ${hidden.length} more stream(s), ${rest} (status --all lists them)`))
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

export function renderStatus(statuses: WorkflowStatus[], colors: Colors, topoUrl: string, all = false): string {
  if (!statuses.length) return `No workflows in ${topoUrl}.\n`
  return statuses.map((s) => renderWorkflowStatus(s, colors, all)).join('\n')
}

const TASK_LINES = 20

/** The tasks of a large phase worth a line: failed first, then waiting for approval, then running. */
function notableTasks(tasks: TaskStatus[]): TaskStatus[] {
  const order: Array<TaskStatus['state']> = ['failed', 'waiting_approval', 'running']
  const picked = order.flatMap((st) => tasks.filter((t) => t.state === st)).slice(0, TASK_LINES)
  const keep = new Set(picked)
  return tasks.filter((t) => keep.has(t))
}

function hiddenSummary(tasks: TaskStatus[], listed: TaskStatus[]): string {
  const shown = new Set(listed)
  const counts = new Map<string, number>()
  for (const t of tasks) if (!shown.has(t)) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
  const parts = [...counts].map(([st, n]) => `${n} ${st.replace('_', ' ')}`)
  const more = listed.length ? ' more' : ''
  return `${tasks.length - listed.length}${more} task(s): ${parts.join(', ')} (status --all lists every task)`
}

type StreamStatus = NonNullable<WorkflowStatus['streams']>['streams'][number]

/** The streams worth a line: failed ones, then the furthest behind. */
function notableStreams(streams: StreamStatus[]): StreamStatus[] {
  const lag = (s: StreamStatus) => s.lagMs ?? (s.lagSeconds === undefined ? Infinity : s.lagSeconds * 1000)
  const ranked = [...streams].sort((a, b) => Number(Boolean(b.error)) - Number(Boolean(a.error)) || lag(b) - lag(a))
  const keep = new Set(ranked.slice(0, TASK_LINES))
  return streams.filter((s) => keep.has(s))
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

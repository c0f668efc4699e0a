// Pure functions over the workflow record: creation, gates and approvals, retry, the commands we tell people to run.
import {randomBytes} from 'node:crypto'
import {hostname, userInfo} from 'node:os'
import {ShardformError, type ErrorParts} from '../errors.js'
import type {PlanPhase, Plan, PhaseName} from '../plan/types.js'
import {
  RUNS_KEPT,
  type Approval,
  type GateStageName,
  type TaskState,
  type WorkflowEvent,
  type WorkflowRecord,
  type WorkflowSource,
} from './types.js'

export class EngineError extends ShardformError {
  override name = 'EngineError'
  constructor(summary: string, parts: ErrorParts = {}) {
    super(summary, {code: 'engine', ...parts})
  }
}

/** `user@host`: who approved, who applied (events and approvals). */
export function whoAmI(): string {
  let user: string
  try {
    user = userInfo().username
  } catch {
    user = String(process.getuid?.() ?? 'unknown')
  }
  return `${user}@${hostname()}`
}

/** `<keyspace>-<YYYYMMDD-HHMMSS>-<4 hex>` (UTC). */
export function newWorkflowId(keyspace: string, now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0')
  const d = `${now.getUTCFullYear()}${p(now.getUTCMonth() + 1)}${p(now.getUTCDate())}`
  const t = `${p(now.getUTCHours())}${p(now.getUTCMinutes())}${p(now.getUTCSeconds())}`
  return `${keyspace}-${d}-${t}-${randomBytes(2).toString('hex')}`
}

export function newWorkflowRecord(plan: Plan, source: WorkflowSource, who: string, now = new Date()): WorkflowRecord {
  const at = now.toISOString()
  const tasks: Record<string, TaskState> = {}
  for (const ph of plan.phases) {
    for (const t of ph.tasks) tasks[t.id] = {id: t.id, phase: ph.name, shard: t.shard, state: 'pending', attempts: 0}
  }
  const id = newWorkflowId(plan.keyspace, now)
  const what = source.kind === 'plan-file' ? `saved plan ${source.file}` : source.file
  return {
    id,
    keyspace: plan.keyspace,
    kind: plan.kind,
    state: 'running',
    currentPhase: plan.phases[0]?.name,
    plan,
    source,
    tasks,
    approvals: [],
    events: [
      {
        at,
        who,
        type: 'created',
        message: `workflow created to apply ${what}: ${plan.summary.tasks} tasks in ${plan.phases.length} phases (plan fingerprint ${plan.fingerprint})`,
      },
    ],
    createdAt: at,
    createdBy: who,
    updatedAt: at,
  }
}

export function addEvent(wf: WorkflowRecord, ev: Omit<WorkflowEvent, 'at'> & {at?: string}): void {
  wf.events.push({at: ev.at ?? new Date().toISOString(), ...ev} as WorkflowEvent)
}

/** Keep the last RUNS_KEPT runs of a task. */
export function trimRuns(t: TaskState): void {
  if (t.runs && t.runs.length > RUNS_KEPT) t.runs = t.runs.slice(-RUNS_KEPT)
}

export function phaseOf(wf: WorkflowRecord, name: string): PlanPhase | undefined {
  return wf.plan.phases.find((p) => p.name === name)
}

export function phaseDone(wf: WorkflowRecord, phase: PlanPhase): boolean {
  return phase.tasks.every((t) => wf.tasks[t.id]?.state === 'done')
}

/** The first phase (plan order) with a task that is not done; undefined when all are. */
export function currentPhase(wf: WorkflowRecord): PlanPhase | undefined {
  return wf.plan.phases.find((p) => !phaseDone(wf, p))
}

// ---- gates

export interface GateStage {
  phase: PhaseName
  stage: GateStageName
  /** Tasks of the stage that still need the approval. */
  tasks: string[]
  /** `<phase>:<stage>` */
  gate: string
  /** How many tasks the phase has (wording). */
  phaseTasks: number
  policy: PlanPhase['gate']
}

/** The approval stages of a phase: canary = first, then the rest (one stage when the phase has one task); phase = all. */
export function gateStages(phase: PlanPhase): GateStage[] {
  const ids = phase.tasks.map((t) => t.id)
  const mk = (stage: GateStageName, tasks: string[]): GateStage => ({
    phase: phase.name,
    stage,
    tasks,
    gate: `${phase.name}:${stage}`,
    phaseTasks: ids.length,
    policy: phase.gate,
  })
  if (phase.gate === 'none' || ids.length === 0) return []
  if (phase.gate === 'phase') return [mk('all', ids)]
  return ids.length === 1 ? [mk('first', ids)] : [mk('first', ids.slice(0, 1)), mk('rest', ids.slice(1))]
}

export function isApproved(wf: WorkflowRecord, taskId: string): boolean {
  return wf.approvals.some((a) => a.tasks.includes(taskId))
}

/** May this task start as far as gates go? */
export function taskCleared(wf: WorkflowRecord, phase: PlanPhase, taskId: string): boolean {
  return phase.gate === 'none' || isApproved(wf, taskId)
}

/**
 * The stage of `phase` that waits for an approval now, if any. With canary, the rest opens only once the first task is
 * done (that is the point of a canary).
 */
export function openStage(wf: WorkflowRecord, phase: PlanPhase): GateStage | undefined {
  const stages = gateStages(phase)
  for (const st of stages) {
    const need = st.tasks.filter((t) => !isApproved(wf, t) && wf.tasks[t]?.state !== 'done')
    if (!need.length) continue
    if (st.stage === 'rest') {
      const first = phase.tasks[0]!.id
      if (wf.tasks[first]?.state !== 'done') return undefined
    }
    return {...st, tasks: need}
  }
  return undefined
}

/** The gate the workflow waits at (current phase), if any. */
export function openGate(wf: WorkflowRecord): GateStage | undefined {
  const ph = currentPhase(wf)
  return ph ? openStage(wf, ph) : undefined
}

/** "first task of clone (clone/0)", "remaining 3 tasks of diff (diff/80-, …)", "phase migrate_primary (1 task)" */
export function describeStage(st: GateStage): string {
  if (st.stage === 'all') return `phase ${st.phase} (${plural(st.tasks.length, 'task')})`
  if (st.stage === 'first') return `first task of ${st.phase} (${st.tasks[0]})`
  return `remaining ${plural(st.tasks.length, 'task')} of ${st.phase} (${listShort(st.tasks)})`
}

export interface CommandHints {
  /** The --topo flag the user gave, repeated in the commands we print. */
  topo?: string
}

function topoArg(h: CommandHints | undefined): string {
  return h?.topo ? ` --topo ${shellQuote(h.topo)}` : ''
}

export function approveCommand(keyspace: string, st: GateStage, h?: CommandHints): string {
  const stage =
    st.policy === 'phase' ? '' : st.stage === 'first' ? ' --first' : st.stage === 'rest' ? ' --rest' : ' --all'
  return `shardform approve ${keyspace} --phase ${st.phase}${stage}${topoArg(h)}`
}

export function retryCommand(keyspace: string, taskId: string, h?: CommandHints): string {
  return `shardform retry ${keyspace} ${shellQuote(taskId)}${topoArg(h)}`
}

export function resumeCommand(h?: CommandHints): string {
  return `shardform apply${topoArg(h)}`
}

export interface ApproveRequest {
  phase?: string
  stage?: GateStageName
  by: string
  via: Approval['via']
  at?: string
}

/**
 * Record an approval in `wf` (mutating it) for the gate named, or the one open now. Refuses (EngineError) when nothing
 * waits or the gate named is not open or does not apply. Returns the approval and the stage it covers.
 */
export function approve(wf: WorkflowRecord, req: ApproveRequest): {approval: Approval; stage: GateStage} {
  if (wf.state === 'done' || wf.state === 'cancelled')
    throw new EngineError(`workflow ${wf.id} is ${wf.state}; there is nothing to approve.`)
  const cur = currentPhase(wf)
  if (!cur) throw new EngineError(`every task of workflow ${wf.id} is done; there is nothing to approve.`)
  if (req.phase && req.phase !== cur.name) {
    const named = phaseOf(wf, req.phase)
    if (!named)
      throw new EngineError(
        `workflow ${wf.id} has no phase "${req.phase}"; its phases are ${wf.plan.phases.map((p) => p.name).join(', ')}.`,
      )
    if (phaseDone(wf, named))
      throw new EngineError(
        `phase ${named.name} of workflow ${wf.id} is already done; the current phase is ${cur.name}.`,
      )
    throw new EngineError(
      `phase ${named.name} of workflow ${wf.id} has not started yet (the current phase is ${cur.name}); approve it when it waits.`,
    )
  }
  const phase = cur
  const stages = gateStages(phase)
  if (!stages.length) throw new EngineError(`phase ${phase.name} of workflow ${wf.id} needs no approval (gate: none).`)
  const open = openStage(wf, phase)
  let stage: GateStage
  if (!req.stage) {
    if (!open) throw new EngineError(nothingWaiting(wf, phase))
    stage = open
  } else if (req.stage === 'all') {
    const need = phase.tasks.map((t) => t.id).filter((t) => !isApproved(wf, t) && wf.tasks[t]?.state !== 'done')
    if (!need.length) throw new EngineError(`every task of phase ${phase.name} is already approved.`)
    stage = {...stages[0]!, stage: 'all', gate: `${phase.name}:all`, tasks: need}
  } else {
    if (phase.gate === 'phase')
      throw new EngineError(
        `phase ${phase.name} has a phase gate (one approval for all its tasks): run shardform approve ${wf.keyspace} --phase ${phase.name}`,
      )
    const st = stages.find((s) => s.stage === req.stage)
    if (!st)
      throw new EngineError(`phase ${phase.name} has a single task, so there is no --rest; approve it with --first.`)
    const need = st.tasks.filter((t) => !isApproved(wf, t) && wf.tasks[t]?.state !== 'done')
    if (!need.length)
      throw new EngineError(
        `the ${req.stage === 'first' ? 'first task' : 'remaining tasks'} of phase ${phase.name} ${req.stage === 'first' ? 'is' : 'are'} already approved.`,
      )
    if (req.stage === 'rest' && open?.stage !== 'rest') {
      const first = phase.tasks[0]!.id
      const fs = wf.tasks[first]?.state ?? 'pending'
      throw new EngineError(
        `the remaining tasks of ${phase.name} open only when its first task ${first} is done (it is ${fs.replace('_', ' ')}${isApproved(wf, first) ? '' : ', not approved yet'}). ` +
          `To skip the canary, approve the whole phase: shardform approve ${wf.keyspace} --phase ${phase.name} --all`,
      )
    }
    stage = {...st, tasks: need}
  }
  const approval: Approval = {
    gate: stage.gate,
    tasks: stage.tasks,
    by: req.by,
    at: req.at ?? new Date().toISOString(),
    via: req.via,
  }
  wf.approvals.push(approval)
  for (const t of stage.tasks) {
    const ts = wf.tasks[t]
    if (ts?.state === 'waiting_approval') ts.state = 'pending'
  }
  addEvent(wf, {
    at: approval.at,
    who: req.by,
    type: 'approved',
    phase: phase.name,
    message: `approved ${describeStage(stage)} (via ${req.via})`,
  })
  return {approval, stage}
}

function nothingWaiting(wf: WorkflowRecord, phase: PlanPhase): string {
  const states = phase.tasks.map((t) => `${t.id} ${(wf.tasks[t.id]?.state ?? 'pending').replace('_', ' ')}`)
  return `nothing in workflow ${wf.id} is waiting for approval (phase ${phase.name}: ${states.join(', ')}).`
}

/** Put a failed task back to pending for `retry` (mutating wf). */
export function resetForRetry(wf: WorkflowRecord, taskId: string, who: string, hints?: CommandHints): TaskState {
  const t = wf.tasks[taskId]
  const failed = Object.values(wf.tasks)
    .filter((x) => x.state === 'failed')
    .map((x) => x.id)
  if (!t) {
    throw new EngineError(
      `workflow ${wf.id} has no task "${taskId}"` +
        (failed.length ? `; failed tasks: ${failed.join(', ')}` : '; no task has failed') +
        '.',
    )
  }
  if (t.state !== 'failed') {
    throw new EngineError(
      `task ${taskId} of workflow ${wf.id} is ${t.state.replace('_', ' ')}, not failed; there is nothing to retry` +
        (failed.length ? ` (failed: ${failed.join(', ')})` : '') +
        `. To continue the workflow run: ${resumeCommand(hints)}`,
    )
  }
  const prev = t.error
  t.state = 'pending'
  delete t.error
  delete t.finishedAt
  if (wf.state === 'failed') wf.state = 'paused'
  addEvent(wf, {
    who,
    type: 'retry',
    task: taskId,
    phase: t.phase,
    message: `retry requested after attempt ${t.attempts}${prev ? ` failed: ${prev}` : ''}`,
  })
  return t
}

// ---- small text helpers

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

/** "a, b" for up to `max` items, else "a, …". */
export function listShort(items: string[], max = 2): string {
  return items.length <= max ? items.join(', ') : `${items[0]}, …`
}

export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

/** "0", "30", "30s", "2m", "500ms", "1h" → milliseconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text)
  if (!m) throw new EngineError(`${what} "${text}" is not a duration; write e.g. 0, 30s, 2m or 500ms.`)
  const n = Number(m[1])
  const unit = m[2] ?? 's'
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000))
}

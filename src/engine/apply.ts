// `apply` and `retry`: choose or create the workflow, take the keyspace lock, check before resuming, run, release.
import {loadLayout} from '../layout/index.js'
import type {Layout} from '../layout/types.js'
import {loadPlanFile, planStaleness, type PlanFile} from '../plan/planfile.js'
import {plan as makePlan} from '../plan/planner.js'
import {explainTopologyChange} from '../plan/staleness.js'
import type {Plan} from '../plan/types.js'
import {fingerprint, fingerprintInput, readKeyspaceState} from '../plan/keyspace-state.js'
import {workflowPath} from '../topo/paths.js'
import {isErrorCode} from '../errors.js'
import type {LockHandle, TopoStore, TxnOp} from '../topo/store.js'
import {Runner, type RunOutcome, type RunnerUI} from './runner.js'
import {decideForLayout, decideForPlanFile, decideNoArg, isPlanFile, listWorkflows, unfinished} from './select.js'
import {isFinished, type Runtime, type TaskState, type WorkflowRecord, type WorkflowSource} from './types.js'
import {lockOrAskServer} from './hand-back.js'
import {readWorkflowEntry} from './record.js'
import {WorkflowWriter, type WriterOptions} from './writer.js'
import {
  addEvent,
  currentPhase,
  EngineError,
  newWorkflowRecord,
  resetForRetry,
  whoAmI,
  type CommandHints,
} from './workflow.js'

export interface ApplyUI extends RunnerUI {
  /** A new workflow's plan, before the overall question. */
  showPlan?(plan: Plan, source: WorkflowSource): void
  /** The overall question (TTY only); leave undefined when there is no one to ask. */
  confirm?(plan: Plan): Promise<boolean>
  /** After a failure (TTY only): retry this task now? */
  offerRetry?(task: TaskState, wf: WorkflowRecord): Promise<boolean>
  /** One line of information ("Resuming workflow …"). */
  info?(message: string): void
}

export interface RunSettings {
  store: TopoStore
  runtime: Runtime
  autoApprove?: boolean
  noWait?: boolean
  /** How long to wait for a held keyspace lock (0 = fail at once naming the holder). */
  lockTimeoutMs?: number
  /** Lease time-to-live of our lock: a crashed apply's lock expires this long after it died. */
  lockTtlSeconds?: number
  /** The `shardform server` running the workflow (recorded in the keyspace lock: its claim). */
  server?: string
  parallelism?: number
  hints?: CommandHints
  /** Ctrl-C. */
  signal?: AbortSignal
  ui?: ApplyUI
  /** user@host (default: this user and host). */
  who?: string
  unavailableTimeoutMs?: number
  progressIntervalMs?: number
}

export interface ApplyRequest extends RunSettings {
  /** A layout or a saved plan; undefined = resume the only unfinished workflow. */
  target?: string
  /** With no target: which unfinished workflow. */
  workflowId?: string
  /**
   * Servers run workflows: record a new one (under the lock, released at once) without running it, or name the
   * unfinished one the target resumes; either way return `recorded` and leave the running to them.
   */
  handOff?: boolean
}

export type ApplyResult =
  | {state: 'noop'; plan: Plan}
  | {state: 'cancelled'; plan: Plan}
  | {state: 'already_done'; wf: WorkflowRecord}
  /** handOff: the workflow is in the topology for the servers to run (created now, or the one the target resumes). */
  | {state: 'recorded'; wf: WorkflowRecord; created: boolean}
  /** A following apply stopped following (Ctrl-C); the workflow goes on without it. */
  | {state: 'left'; wf: WorkflowRecord}
  | RunOutcome

type Target =
  | {kind: 'noop'; plan: Plan}
  | {kind: 'new'; plan: Plan; source: WorkflowSource; saved?: PlanFile; basis: unknown; layout?: Layout}
  | {kind: 'resume'; workflow: WorkflowRecord}

export async function apply(req: ApplyRequest): Promise<ApplyResult> {
  const {store} = req
  const target = await resolveTarget(req)
  if (target.kind === 'noop') return {state: 'noop', plan: target.plan}
  if (target.kind === 'resume' && req.handOff) {
    if (isFinished(target.workflow)) return {state: 'already_done', wf: target.workflow}
    return {state: 'recorded', wf: target.workflow, created: false}
  }
  if (target.kind === 'new') {
    req.ui?.showPlan?.(target.plan, target.source)
    if (!req.autoApprove && target.source.kind === 'layout') {
      if (!req.ui?.confirm) {
        throw new EngineError(
          `not applying ${target.source.file} without confirmation, and there is no terminal to ask on. Review the plan and apply it as saved: ` +
            `shardform plan ${target.source.file} --out FILE, then shardform apply FILE; or pass --auto-approve.`,
        )
      }
      if (!(await req.ui.confirm(target.plan))) return {state: 'cancelled', plan: target.plan}
    }
  }
  const keyspace = target.kind === 'new' ? target.plan.keyspace : target.workflow.keyspace
  const operation =
    target.kind === 'new'
      ? `apply ${target.source.file}`
      : req.server
        ? `server ${req.server} runs workflow ${target.workflow.id}`
        : `apply (resume workflow ${target.workflow.id})`
  return withLock(req, keyspace, operation, async (lock, signal) => {
    let writer: WorkflowWriter
    const who = req.who ?? whoAmI()
    let emitFrom: number
    if (target.kind === 'new') {
      const state = await readKeyspaceState(store, keyspace)
      if (target.saved) {
        const st = planStaleness(target.saved, state)
        if (st.stale) throw staleError(target.source.file, target.saved, st.changes)
      } else if (fingerprint(state) !== target.plan.fingerprint) {
        const changes = explainTopologyChange(target.basis, fingerprintInput(state))
        throw new EngineError(
          `the topology of keyspace ${keyspace} changed while the plan was shown (${changes.join('; ')}); nothing was done. Run shardform apply ${target.source.file} again.`,
        )
      }
      const wf = newWorkflowRecord(target.plan, target.source, who)
      writer = await WorkflowWriter.create(
        store,
        wf,
        writerOptions(req),
        await closeReverted(store, target.plan, wf, who),
      )
      emitFrom = 0
      req.ui?.info?.(`Created workflow ${wf.id} (applying ${wf.plan.desired.file}).`)
      if (req.handOff) return {state: 'recorded', wf: writer.value, created: true}
    } else {
      writer = await WorkflowWriter.load(store, target.workflow.id, writerOptions(req))
      if (isFinished(writer.value)) return {state: 'already_done', wf: writer.value}
      emitFrom = writer.value.events.length
      await checkBeforeResume(req, writer, who)
      const ph = writer.value.currentPhase ?? currentPhase(writer.value)?.name
      const file = writer.value.plan.desired.file
      req.ui?.info?.(`Resuming workflow ${writer.value.id} (applying ${file})${ph ? `, at phase ${ph}` : ''}.`)
      // The lock of a holder that provably died (same host, its process gone) was taken over without waiting.
      const took = lock.tookOver ? `; took over the lock of ${lock.tookOver.who}, which is no longer running` : ''
      if (took) req.ui?.info?.(`Took over the keyspace lock of ${lock.tookOver!.who} (no longer running).`)
      await writer.mutate((wf) => {
        addEvent(wf, {
          who,
          type: 'resumed',
          phase: ph,
          message: `resumed by ${lock.record.who}${ph ? ` at phase ${ph}` : ''}${took}`,
        })
      })
    }
    return runLoop(req, writer, signal, who, emitFrom)
  })
}

/** `retry <keyspace> <task>`: under the lock, put the failed task back to pending, then continue like apply. */
export async function retry(req: RunSettings & {keyspace: string; taskId: string}): Promise<ApplyResult> {
  const open = unfinished(await listWorkflows(req.store, req.keyspace))
  if (!open.length)
    throw new EngineError(`keyspace ${req.keyspace} has no unfinished workflow in ${req.store.url}; nothing to retry.`)
  if (open.length > 1)
    throw new EngineError(
      `keyspace ${req.keyspace} has several unfinished workflows (${open.map((w) => w.id).join(', ')}); the topology is inconsistent.`,
    )
  const id = open[0]!.id
  return withLock(req, req.keyspace, `retry ${req.taskId} (workflow ${id})`, async (_lock, signal) => {
    const who = req.who ?? whoAmI()
    const writer = await WorkflowWriter.load(req.store, id, writerOptions(req))
    if (isFinished(writer.value)) return {state: 'already_done', wf: writer.value}
    const emitFrom = writer.value.events.length
    await checkBeforeResume(req, writer, who)
    await writer.mutate((wf) => {
      resetForRetry(wf, req.taskId, who, req.hints)
    })
    req.ui?.info?.(`Retrying ${req.taskId} of workflow ${id}; the workflow continues from there.`)
    return runLoop(req, writer, signal, who, emitFrom)
  })
}

async function runLoop(
  req: RunSettings,
  writer: WorkflowWriter,
  signal: AbortSignal,
  who: string,
  emitFrom: number,
): Promise<ApplyResult> {
  try {
    const services = await req.runtime.start?.(writer.value, req.store, signal)
    for (;;) {
      const runner = new Runner({
        writer,
        runtime: req.runtime,
        services,
        parallelism: req.parallelism,
        autoApprove: req.autoApprove,
        noWait: req.noWait,
        who,
        runBy: `${who} pid ${process.pid}`,
        signal,
        ui: req.ui,
        hints: req.hints,
        progressIntervalMs: req.progressIntervalMs,
        emitFromEvent: emitFrom,
      })
      const out = await runner.run()
      emitFrom = out.wf.events.length
      if (out.state === 'failed' && req.ui?.offerRetry && !signal.aborted) {
        let again = false
        for (const f of out.failed) {
          const yes = await req.ui.offerRetry(f, out.wf).catch(() => false)
          if (signal.aborted) return {state: 'interrupted', wf: writer.value, reason: signal.reason}
          if (yes) {
            await writer.mutate((wf) => {
              resetForRetry(wf, f.id, who, req.hints)
            })
            again = true
          }
        }
        if (again) {
          continue
        }
      }
      return out
    }
  } finally {
    await req.runtime.stop?.()
  }
}

/** Generic checks plus the runtime's: does the topology still look like what the workflow expects? */
async function checkBeforeResume(req: RunSettings, writer: WorkflowWriter, who: string): Promise<void> {
  const wf = writer.value
  const state = await readKeyspaceState(req.store, wf.keyspace)
  const problems: string[] = []
  if (!state) problems.push(`keyspace ${wf.keyspace} no longer exists in ${req.store.url}`)
  else problems.push(...(req.runtime.check?.(wf, state) ?? []))
  if (!problems.length) return
  await writer
    .mutate((x) => addEvent(x, {who, type: 'check_failed', message: `not resumed: ${problems.join('; ')}`}))
    .catch(() => undefined)
  const topo = req.hints?.topo ? ` --topo ${req.hints.topo}` : ''
  throw new EngineError(
    `the topology no longer matches what workflow ${wf.id} expects: ${problems.join('; ')}. Nothing was run. ` +
      `Inspect with shardform status ${wf.keyspace}${topo} and shardform topo show ${wf.keyspace}${topo}.`,
  )
}

/** A revert replaces the workflow it undoes: that one is closed as cancelled in the same commit. */
async function closeReverted(store: TopoStore, plan: Plan, by: WorkflowRecord, who: string): Promise<TxnOp[]> {
  if (plan.kind !== 'revert' || !plan.revert) return []
  const path = workflowPath(plan.revert.workflow)
  const e = readWorkflowEntry(await store.get(path))
  if (!e) throw new EngineError(`workflow ${plan.revert.workflow}, which this plan reverts, no longer exists`)
  if (isFinished(e.value)) throw new EngineError(`workflow ${plan.revert.workflow} finished meanwhile; plan again`)
  const at = new Date().toISOString()
  const closed: WorkflowRecord = {
    ...e.value,
    state: 'cancelled',
    finishedAt: at,
    updatedAt: at,
    events: [...e.value.events],
  }
  addEvent(closed, {
    who,
    type: 'cancelled',
    message: `reverted by workflow ${by.id} (applying ${plan.desired.file}): ${plan.revert.reason}`,
  })
  return [{op: 'put', path, value: closed, version: e.version}]
}

async function withLock<T>(
  req: RunSettings,
  keyspace: string,
  operation: string,
  fn: (lock: LockHandle, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  let lock: LockHandle
  try {
    const opts = {
      operation,
      timeoutMs: req.lockTimeoutMs ?? 0,
      ...(req.lockTtlSeconds ? {ttlSeconds: req.lockTtlSeconds} : {}),
      ...(req.server ? {server: req.server} : {}),
    }
    lock = await lockOrAskServer(req.store, keyspace, opts, req.ui?.info)
  } catch (e) {
    // The store's message names the holder and the force-unlock command: a user error, not a bug.
    if (isErrorCode(e, 'lock_held')) throw new EngineError((e as Error).message, {code: 'engine.lock_held'})
    throw e
  }
  const ac = new AbortController()
  // A lost lease stops the run: the runner sees the lock_lost TopoError as the abort reason.
  lock.lost.catch((e: unknown) => ac.abort(e))
  const ext = req.signal
  const onAbort = () => ac.abort(ext?.reason ?? new Error('interrupted'))
  if (ext?.aborted) onAbort()
  ext?.addEventListener('abort', onAbort, {once: true})
  try {
    return await fn(lock, ac.signal)
  } finally {
    ext?.removeEventListener('abort', onAbort)
    await lock.release().catch(() => undefined)
  }
}

async function resolveTarget(req: ApplyRequest): Promise<Target> {
  const {store} = req
  const all = await listWorkflows(store)
  const open = unfinished(all)
  if (!req.target) return {kind: 'resume', workflow: decideNoArg(open, store.url, req.workflowId)}
  if (isPlanFile(req.target)) {
    const saved = loadPlanFile(req.target)
    const d = decideForPlanFile(open, saved, req.target, req.hints)
    if (d.action === 'resume') return {kind: 'resume', workflow: d.workflow}
    const state = await readKeyspaceState(store, saved.plan.keyspace)
    const st = planStaleness(saved, state)
    if (st.stale) throw staleError(req.target, saved, st.changes)
    if (saved.plan.kind === 'noop') return {kind: 'noop', plan: saved.plan}
    return {
      kind: 'new',
      plan: saved.plan,
      saved,
      basis: saved.topology,
      source: {kind: 'plan-file', file: req.target, checksum: saved.checksum},
    }
  }
  const layout = loadLayout(req.target)
  const d = decideForLayout(open, layout, req.hints)
  if (d.action === 'resume') return {kind: 'resume', workflow: d.workflow}
  const state = await readKeyspaceState(store, layout.keyspace)
  const p = makePlan(state, layout)
  if (p.kind === 'noop') return {kind: 'noop', plan: p}
  return {kind: 'new', plan: p, layout, basis: fingerprintInput(state), source: {kind: 'layout', file: req.target}}
}

function writerOptions(req: RunSettings): WriterOptions {
  return {
    unavailableTimeoutMs: req.unavailableTimeoutMs,
    onUnavailable: (m) => req.ui?.info?.(`The topology is unreachable: ${m}.`),
  }
}

function staleError(file: string, saved: PlanFile, changes: string[]): EngineError {
  return new EngineError(
    `the saved plan ${file} is stale: the topology of keyspace ${saved.plan.keyspace} changed since it was made ` +
      `(${saved.plan.created_at}):\n${changes.map((c) => `  - ${c}`).join('\n')}\n` +
      `Nothing was done. Run shardform plan again: shardform plan ${saved.plan.desired.file} --out ${file}`,
  )
}

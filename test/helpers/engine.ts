// Helpers for engine tests: synthetic plans, a file-backed workflow, deterministic executors that record every call.
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {Runner, type RunnerOptions} from '../../src/engine/runner.js'
import type {Executor, Runtime, TaskContext, TaskResult, WorkflowRecord} from '../../src/engine/types.js'
import {newWorkflowRecord} from '../../src/engine/workflow.js'
import {WorkflowWriter} from '../../src/engine/writer.js'
import {DEFAULT_SETTINGS, type GatePolicy} from '../../src/layout/types.js'
import {PHASES, type PhaseName, type Plan, type PlanPhase} from '../../src/plan/types.js'
import {FileTopoStore} from '../../src/topo/file.js'
import {TopoError, type ListOptions, type TopoStore} from '../../src/topo/store.js'

export interface PhaseSpec {
  name: PhaseName
  mode?: 'parallel' | 'sequential'
  gate?: GatePolicy
  /** Number of tasks (ids <phase>/t0, /t1, …) or explicit shard names. */
  tasks: number | string[]
}

export function makePlan(spec: PhaseSpec[], keyspace = 'ks', settings: Partial<typeof DEFAULT_SETTINGS> = {}): Plan {
  const phases: PlanPhase[] = spec.map((s) => {
    const shards = typeof s.tasks === 'number' ? Array.from({length: s.tasks}, (_, i) => `t${i}`) : s.tasks
    return {
      name: s.name,
      mode: s.mode ?? PHASES.find((p) => p.name === s.name)!.mode,
      gate: s.gate ?? 'none',
      tasks: shards.map((sh) => ({id: `${s.name}/${sh}`, shard: sh, detail: `test task ${s.name}/${sh}`})),
    }
  })
  return {
    format_version: '1',
    keyspace,
    kind: 'reshard',
    created_at: '2026-01-01T00:00:00.000Z',
    fingerprint: 'f0',
    current: {shards: [], vschema: {sharded: false}},
    desired: {
      file: 'test.yaml',
      database: `vt_${keyspace}`,
      vschema: {sharded: false},
      approvals: {default: 'none', phases: {}},
      settings: {...DEFAULT_SETTINGS, ...settings},
      shards: [],
    },
    groups: [],
    changes: [],
    phases,
    summary: {create: 0, retire: 0, update: 0, move: 0, tasks: phases.reduce((n, p) => n + p.tasks.length, 0)},
    notes: [],
  }
}

export interface Call {
  task: string
  attempt: number
  resuming: boolean
  start: number
  end?: number
  outcome?: 'done' | 'failed' | 'aborted'
}

export type Behaviour = (ctx: TaskContext, rec: Recorder) => Promise<TaskResult | void>

/** Deterministic executors: every call is recorded (order, concurrency); behaviour per task id. */
export class Recorder {
  calls: Call[] = []
  current = 0
  maxConcurrent = 0
  behaviours = new Map<string, Behaviour>()
  /** Default: wait this long, then succeed. */
  delayMs = 0

  on(taskId: string, b: Behaviour): this {
    this.behaviours.set(taskId, b)
    return this
  }

  runtime(extra: Partial<Runtime> = {}): Runtime {
    const exec: Executor = async (ctx) => {
      const call: Call = {task: ctx.task.id, attempt: ctx.attempt, resuming: ctx.resuming, start: performance.now()}
      this.calls.push(call)
      this.current++
      this.maxConcurrent = Math.max(this.maxConcurrent, this.current)
      try {
        const b = this.behaviours.get(ctx.task.id)
        const r = b ? await b(ctx, this) : await sleep(this.delayMs)
        call.outcome = 'done'
        return r ?? undefined
      } catch (e) {
        call.outcome = ctx.signal.aborted ? 'aborted' : 'failed'
        throw e
      } finally {
        call.end = performance.now()
        this.current--
      }
    }
    return {executors: Object.fromEntries(PHASES.map((p) => [p.name, exec])), ...extra}
  }

  started(taskId: string): Call[] {
    return this.calls.filter((c) => c.task === taskId)
  }
}

/** Resolve when `signal` aborts, then throw its reason (an executor stopping at a safe point). */
export function untilAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason)
    signal.addEventListener('abort', () => reject(signal.reason ?? new Error('aborted')), {once: true})
  })
}

export interface Fixture {
  dir: string
  store: FileTopoStore
  writer: WorkflowWriter
  wf: WorkflowRecord
  runner(runtime: Runtime, opts?: Partial<RunnerOptions>): Runner
  /** A fresh writer on the same record (as a restarted apply would load it). */
  reload(): Promise<WorkflowWriter>
  /** The record as stored now. */
  read(): Promise<WorkflowRecord>
  close(): Promise<void>
}

export async function fixture(plan: Plan): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'shardform-engine-'))
  const store = await FileTopoStore.open(dir, {pollMs: 20})
  const wf = newWorkflowRecord(plan, {kind: 'layout', file: 'test.yaml'}, 'tester@host')
  const writer = await WorkflowWriter.create(store, wf)
  const fx: Fixture = {
    dir,
    store,
    writer,
    wf,
    runner: (runtime, opts = {}) =>
      new Runner({writer: fx.writer, runtime, who: 'tester@host', progressIntervalMs: 20, ...opts}),
    reload: async () => (fx.writer = await WorkflowWriter.load(store, wf.id)),
    read: async () => (await store.get<WorkflowRecord>(`workflows/${wf.id}/Workflow`))!.value,
    close: async () => {
      await store.close()
      await rm(dir, {recursive: true, force: true})
    },
  }
  return fx
}

/** A store that answers `unavailable` while `down` is set (etcd unreachable), delegating otherwise. */
export class FlakyStore implements TopoStore {
  down = false
  writes = 0
  constructor(private readonly inner: TopoStore) {}
  get url() {
    return this.inner.url
  }
  private gate(): void {
    if (this.down) throw new TopoError('unavailable', 'cannot reach the test store (down on purpose)')
  }
  async get<T>(path: string) {
    this.gate()
    return this.inner.get<T>(path)
  }
  async list<T>(prefix: string, opts?: ListOptions) {
    this.gate()
    return this.inner.list<T>(prefix, opts)
  }
  async create(path: string, value: unknown) {
    this.gate()
    return this.inner.create(path, value)
  }
  async update(path: string, value: unknown, version: string) {
    this.gate()
    this.writes++
    return this.inner.update(path, value, version)
  }
  async delete(path: string, version?: string) {
    this.gate()
    return this.inner.delete(path, version)
  }
  async commit(ops: Parameters<TopoStore['commit']>[0]) {
    this.gate()
    this.writes++
    return this.inner.commit(ops)
  }
  watch: TopoStore['watch'] = (prefix, onEvent, onError) => this.inner.watch(prefix, onEvent, onError)
  lock: TopoStore['lock'] = (ks, opts) => this.inner.lock(ks, opts)
  readLock: TopoStore['readLock'] = (ks) => this.inner.readLock(ks)
  forceUnlock: TopoStore['forceUnlock'] = (ks, id) => this.inner.forceUnlock(ks, id)
  hold: TopoStore['hold'] = (path, opts) => this.inner.hold(path, opts)
  close = () => this.inner.close()
}

/** Poll every `everyMs` until `fn` returns truthy (or fail after `ms`). */
export async function until<T>(
  fn: () => T | Promise<T>,
  ms = 5000,
  what = 'condition',
  everyMs = 10,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

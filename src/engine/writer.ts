// One serialised writer per workflow record: every change is a mutation function applied to the freshest record and
// written with compare-and-swap, retried on conflict (someone approved meanwhile), so nobody's concurrent change is lost.
// An unreachable topology is retried with backoff; after `unavailableTimeoutMs` the writer gives up (WRITER_UNAVAILABLE).
// Mutations queued while a write is in flight are applied together and written once (a group commit): eight tasks that
// start or finish at the same moment cost one write of the record, not eight.
import {randomBytes} from 'node:crypto'
import {setTimeout as sleep} from 'node:timers/promises'
import {errorMessage, isErrorCode} from '../errors.js'
import {workflowPath} from '../topo/paths.js'
import type {Entry, TopoStore, TxnOp} from '../topo/store.js'
import {readWorkflowEntry} from './record.js'
import {stampRecord} from './record-format.js'
import type {WorkflowRecord} from './types.js'
import {EngineError} from './workflow.js'

/** Returned by a mutation that finds nothing to change: nothing is written. */
export const SKIP = Symbol('skip')
export type Mutation = (wf: WorkflowRecord) => void | typeof SKIP

/** Error code: the topology stayed unreachable longer than the writer waits; the record is as last written. */
export const WRITER_UNAVAILABLE = 'engine.writer_unavailable'
/** Error code: the executor's own ops were refused (their expected versions did not match); the workflow record was
 * not changed. The error's detail says why the store refused them. */
export const OPS_CONFLICT = 'engine.ops_conflict'

export interface WriterOptions {
  /** How long to keep retrying an unreachable topology (default 60 s). */
  unavailableTimeoutMs?: number
  /** Called after every change of the record this writer knows of (own writes and others' seen by refresh). */
  onChange?: (wf: WorkflowRecord) => void
  /** Told when the topology is unreachable and the writer keeps retrying (first failure, then every ~10 s). */
  onUnavailable?: (message: string) => void
}

interface Queued {
  fn: Mutation
  resolve: (wf: WorkflowRecord) => void
  reject: (e: unknown) => void
}

/** Thrown through doMutate when one mutation of a group fails: the group's draft is discarded. */
const MEMBER_FAILED = Symbol('member failed')

export class WorkflowWriter {
  readonly path: string
  private entry: Entry<WorkflowRecord>
  private queue: Promise<unknown> = Promise.resolve()
  /** The group at the end of the queue, not started yet: later mutations without ops join it. */
  private open?: Queued[]
  private readonly unavailableTimeoutMs: number
  private readonly onUnavailable?: (message: string) => void
  private lastUnavailableNote = 0
  private readonly listeners = new Set<(wf: WorkflowRecord) => void>()
  private stopWatch?: () => void
  private watching = false
  private costMs = 0

  private constructor(
    readonly store: TopoStore,
    entry: Entry<WorkflowRecord>,
    opts: WriterOptions,
  ) {
    this.path = entry.path
    this.entry = entry
    this.unavailableTimeoutMs = opts.unavailableTimeoutMs ?? 60_000
    this.onUnavailable = opts.onUnavailable
    if (opts.onChange) this.listeners.add(opts.onChange)
  }

  /**
   * Create a new workflow record (fails with TopoError exists when the id is taken); `alsoOps` are committed in the
   * same transaction (e.g. closing the workflow a revert replaces).
   */
  static async create(
    store: TopoStore,
    wf: WorkflowRecord,
    opts: WriterOptions = {},
    alsoOps: TxnOp[] = [],
  ): Promise<WorkflowWriter> {
    const path = workflowPath(wf.id)
    stampRecord(wf)
    if (!alsoOps.length) {
      const version = await store.create(path, wf)
      return new WorkflowWriter(store, {path, value: wf, version}, opts)
    }
    await store.commit([{op: 'put', path, value: wf, version: null}, ...alsoOps])
    const e = readWorkflowEntry(await store.get(path))
    if (!e) throw new EngineError(`workflow ${wf.id} vanished right after it was created`)
    return new WorkflowWriter(store, e, opts)
  }

  static async load(store: TopoStore, id: string, opts: WriterOptions = {}): Promise<WorkflowWriter> {
    const e = readWorkflowEntry(await store.get(workflowPath(id)))
    if (!e) throw new EngineError(`workflow ${id} does not exist in ${store.url}.`)
    return new WorkflowWriter(store, e, opts)
  }

  /** The latest record this writer knows of. Treat as read-only. */
  get value(): WorkflowRecord {
    return this.entry.value
  }

  get version(): string {
    return this.entry.version
  }

  /**
   * What one write of this record costs (ms, a moving average): copying, encoding and storing the whole record, which
   * holds its plan. A few ms for a small split; most of a second for a 2048 → 4096 split's 30 MiB.
   */
  get writeCostMs(): number {
    return this.costMs
  }

  onChange(fn: (wf: WorkflowRecord) => void): () => void {
    this.listeners.add(fn)
    return () => this.listeners.delete(fn)
  }

  /**
   * Apply `fn` to a copy of the freshest record and write it with CAS (plus `ops` in the same transaction). Retries on a
   * conflict of the workflow record; throws OPS_CONFLICT when `ops` themselves conflict, WRITER_UNAVAILABLE when the
   * topology stays unreachable. Resolves with the record as written (or unchanged when fn returned SKIP).
   */
  mutate(fn: Mutation, ops: TxnOp[] = []): Promise<WorkflowRecord> {
    if (ops.length) return this.enqueue(() => this.doMutate(fn, ops))
    return new Promise((resolve, reject) => {
      if (this.open) return void this.open.push({fn, resolve, reject})
      const group: Queued[] = [{fn, resolve, reject}]
      void this.enqueue(() => {
        if (this.open === group) this.open = undefined
        return this.doGroup(group)
      })
      this.open = group
    })
  }

  /** Runs `job` after everything queued before it; whatever is queued after it starts a new group. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.open = undefined
    const run = this.queue.then(job)
    this.queue = run.catch(() => undefined)
    return run
  }

  /** One write for a group of mutations, in the order they were made; one that throws is left out and rejected. */
  private async doGroup(group: Queued[]): Promise<void> {
    let live = group
    while (live.length) {
      let failed: {m: Queued; e: unknown} | undefined
      try {
        const wf = await this.doMutate((draft) => {
          let changed = false
          for (const m of live) {
            try {
              if (m.fn(draft) !== SKIP) changed = true
            } catch (e) {
              failed = {m, e}
              throw MEMBER_FAILED
            }
          }
          return changed ? undefined : SKIP
        }, [])
        for (const m of live) m.resolve(wf)
        return
      } catch (e) {
        if (e !== MEMBER_FAILED || !failed) {
          for (const m of live) m.reject(e)
          return
        }
        failed.m.reject(failed.e)
        live = live.filter((m) => m !== failed!.m)
      }
    }
  }

  /** Re-read the record (queued behind pending writes) and adopt it when it changed. */
  refresh(): Promise<WorkflowRecord> {
    return this.enqueue(async () => {
      const e = await this.read()
      if (!e) throw new EngineError(`workflow record ${this.path} disappeared from ${this.store.url}; stop.`)
      this.adopt(e)
      return e.value
    })
  }

  /** Follow changes others make (approvals) through a watch; re-established if it breaks. */
  async watch(): Promise<void> {
    if (this.watching) return
    this.watching = true
    const start = async (): Promise<void> => {
      this.stopWatch = await this.store.watch<WorkflowRecord>(
        this.path,
        (ev) => {
          if (ev.type === 'put' && ev.entry.path === this.path && ev.entry.version !== this.entry.version)
            void this.refresh().catch(() => undefined)
        },
        () => {
          // Broken for good: events may be lost. Re-read, then watch again.
          if (!this.watching) return
          void this.refresh().catch(() => undefined)
          void sleep(500).then(() => (this.watching ? start().catch(() => undefined) : undefined))
        },
      )
    }
    await start()
  }

  unwatch(): void {
    this.watching = false
    this.stopWatch?.()
    this.stopWatch = undefined
  }

  /** Wait for every queued write to finish. */
  async flush(): Promise<void> {
    await this.queue
  }

  private adopt(e: Entry<WorkflowRecord>): void {
    if (e.version === this.entry.version) return
    this.entry = e
    for (const l of this.listeners) l(e.value)
  }

  /** One successful write took `ms` (copy and store, without waits for an unreachable topology). */
  private noteCost(ms: number): void {
    this.costMs = this.costMs ? 0.7 * this.costMs + 0.3 * ms : ms
  }

  private async doMutate(fn: Mutation, ops: TxnOp[]): Promise<WorkflowRecord> {
    for (let round = 0; ; round++) {
      const base = this.entry
      const copyStarted = performance.now()
      const next = draftOf(base.value)
      if (fn(next) === SKIP) return base.value
      let costMs = performance.now() - copyStarted
      const writeId = randomBytes(6).toString('hex')
      next.updatedAt = new Date().toISOString()
      next.writeId = writeId
      stampRecord(next)
      const txn: TxnOp[] = [{op: 'put', path: this.path, value: next, version: base.version}, ...ops]
      let ambiguous = false
      let version: string | undefined
      try {
        await this.withRetry('write the workflow record', async () => {
          try {
            const writeStarted = performance.now()
            if (ops.length) await this.store.commit(txn)
            else version = await this.store.update(this.path, next, base.version)
            costMs += performance.now() - writeStarted
          } catch (e) {
            // A request that timed out may have been applied: find out below if the retry conflicts.
            if (isErrorCode(e, 'unavailable')) ambiguous = true
            throw e
          }
        })
      } catch (e) {
        if (!isErrorCode(e, 'conflict')) throw e
        const cur = await this.read()
        if (!cur) throw new EngineError(`workflow record ${this.path} disappeared from ${this.store.url}; stop.`)
        if (ambiguous && cur.value.writeId === writeId) {
          // Our own earlier try landed.
          this.adopt(cur)
          return cur.value
        }
        if (cur.version !== base.version) {
          // Someone else wrote the record (an approval): apply fn again to theirs. A mutation that already happened
          // (ours landed, then someone wrote on top) is recognised by fn itself and SKIPs.
          this.adopt(cur)
          if (round > 1000) throw new EngineError(`workflow record ${this.path} keeps changing under us; stop.`)
          continue
        }
        throw new EngineError('the topology changes were refused, nothing was written', {
          code: OPS_CONFLICT,
          detail: errorMessage(e),
          cause: e,
        })
      }
      this.noteCost(costMs)
      this.adopt(version !== undefined ? {path: this.path, value: next, version} : await this.versionAfterWrite(next))
      return next
    }
  }

  /** commit() does not return versions: read the record back (if someone wrote right after us, theirs includes ours). */
  private async versionAfterWrite(_next: WorkflowRecord): Promise<Entry<WorkflowRecord>> {
    const cur = await this.read()
    if (!cur) throw new EngineError(`workflow record ${this.path} disappeared from ${this.store.url}; stop.`)
    return cur
  }

  /** The stored record, in the current shape (see record.ts), retried while the topology is unreachable. */
  private async read(): Promise<Entry<WorkflowRecord> | undefined> {
    return readWorkflowEntry(await this.withRetry('read the workflow record', () => this.store.get(this.path)))
  }

  private async withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const started = Date.now()
    let delay = 100
    for (;;) {
      try {
        return await fn()
      } catch (e) {
        if (!isErrorCode(e, 'unavailable')) throw e
        const waited = Date.now() - started
        if (waited >= this.unavailableTimeoutMs) {
          throw new EngineError(
            `cannot ${what}: the topology stayed unreachable for ${Math.round(waited / 1000)} s (${errorMessage(e)}). ` +
              `Stopped; the workflow is left as it was last written and resumes with \`shardform apply\` once the topology is back.`,
            {code: WRITER_UNAVAILABLE, cause: e},
          )
        }
        if (Date.now() - this.lastUnavailableNote > 10_000) {
          this.lastUnavailableNote = Date.now()
          const left = Math.round((this.unavailableTimeoutMs - waited) / 1000)
          this.onUnavailable?.(`cannot ${what} (${errorMessage(e)}); retrying for up to ${left} s more`)
        }
        await sleep(Math.min(delay, Math.max(1, this.unavailableTimeoutMs - waited)))
        delay = Math.min(delay * 2, 2_000)
      }
    }
  }
}

/**
 * A copy of the record to change. The plan is shared, not copied: nothing changes a workflow's plan once it is
 * created, and it is most of the record (3 of a 256 → 512 split's 3.7 MiB).
 */
function draftOf(wf: WorkflowRecord): WorkflowRecord {
  const {plan, ...rest} = wf
  return {...structuredClone(rest), plan}
}

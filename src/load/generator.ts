// The guestbook client (Vitess's examples/local client, done properly): inserts `messages` rows through the router,
// updates and deletes some of the rows it wrote, and journals every acknowledged change for `load verify`.
import {randomBytes, randomInt} from 'node:crypto'
import {performance} from 'node:perf_hooks'
import {setTimeout as sleep} from 'node:timers/promises'
import type {ResultSetHeader} from 'mysql2/promise'
import {ShardformError, errorMessage} from '../errors.js'
import {qid} from '../mysql/connect.js'
import {Router, RouterError, type RouterStats} from '../routing/index.js'
import type {TopoStore} from '../topo/store.js'
import {JournalWriter, messageHash, type ChangeOp} from './journal.js'

export interface LoadMix {
  insert: number
  update: number
  delete: number
}

export const DEFAULT_MIX: LoadMix = {insert: 70, update: 20, delete: 10}

export interface LoadOptions {
  keyspace: string
  /** Use this router (left open), or open one on `store` / `topoUrl`. */
  router?: Router
  store?: TopoStore
  topoUrl?: string
  table?: string
  /** Target total operations per second (0 = as fast as the concurrency allows). Default 50. */
  rate?: number
  /** Run this long (ms); 0 or absent = until `signal` aborts. */
  durationMs?: number
  /** Operations in flight at once. Default 4. */
  concurrency?: number
  mix?: LoadMix
  journalFile?: string
  /** Stop: finish the operations in flight, flush the journal, return the summary. */
  signal?: AbortSignal
  /** Message size in bytes (default 100). */
  messageBytes?: number
  /** Router buffer window (ms) when the generator opens the router. */
  bufferWindowMs?: number
  /** Called about every `progressMs` (default 1000). */
  onProgress?: (p: LoadProgress) => void
  progressMs?: number
  /** Called after each operation (benchmarks: per-write timings, e.g. the write pause a client sees at a cutover). */
  onOp?: (o: OpTiming) => void
}

export interface OpTiming {
  op: ChangeOp
  /** Epoch ms (fractional) when the operation was sent and when it was acknowledged or failed. */
  startMs: number
  endMs: number
  /** The shard that acknowledged it; absent when it failed. */
  shard?: string
  /** Time the router held it (read-only or unroutable tablet), and tries; absent when it failed. */
  bufferedMs?: number
  attempts?: number
  error?: string
}

export interface LoadProgress {
  elapsedMs: number
  acknowledged: number
  errors: number
  ratePerSec: number
  holding: number
}

export interface LoadSummary {
  keyspace: string
  table: string
  durationMs: number
  targetRate: number
  concurrency: number
  /** Acknowledged operations per second over the run. */
  ratePerSec: number
  acknowledged: number
  ops: Record<ChangeOp, number>
  errors: number
  /** Errors by kind (buffer_timeout, uncertain, a MySQL error code, …). */
  errorKinds: Record<string, number>
  /** The outcome of these is unknown (journaled as uncertain). */
  uncertain: number
  /** Acknowledged updates/deletes that matched no row: a row this client wrote was gone. */
  missingRows: number
  firstErrors: string[]
  latencyMs: {p50: number; p90: number; p99: number; max: number; mean: number}
  buffered: Pick<RouterStats, 'buffered' | 'bufferedOk' | 'bufferTimeouts' | 'maxBufferedMs'>
  /** Rows this client believes exist at the end. */
  liveRows: number
  journal?: string
}

const MAX_SAMPLES = 1_000_000

/** Latency samples (ms); beyond MAX_SAMPLES a uniform reservoir. */
class Latencies {
  private samples = new Float64Array(1024)
  private n = 0
  private seen = 0
  max = 0
  sum = 0
  add(ms: number): void {
    this.seen++
    this.sum += ms
    if (ms > this.max) this.max = ms
    if (this.n < MAX_SAMPLES) {
      if (this.n === this.samples.length) {
        const next = new Float64Array(Math.min(MAX_SAMPLES, this.samples.length * 2))
        next.set(this.samples)
        this.samples = next
      }
      this.samples[this.n++] = ms
    } else {
      const j = Math.floor(Math.random() * this.seen)
      if (j < MAX_SAMPLES) this.samples[j] = ms
    }
  }
  summary(): LoadSummary['latencyMs'] {
    const sorted = this.samples.slice(0, this.n).sort()
    const q = (p: number) => (this.n ? sorted[Math.min(this.n - 1, Math.ceil(p * this.n) - 1)]! : 0)
    const r = (v: number) => Math.round(v * 100) / 100
    return {
      p50: r(q(0.5)),
      p90: r(q(0.9)),
      p99: r(q(0.99)),
      max: r(this.max),
      mean: r(this.seen ? this.sum / this.seen : 0),
    }
  }
}

/** Keys this client wrote and may change: O(1) pick-at-random and removal. */
class KeyPool {
  private keys: Array<[bigint, bigint]> = []
  add(k: [bigint, bigint]): void {
    this.keys.push(k)
  }
  /** Remove and return a random key (the caller owns it until it puts it back). */
  take(): [bigint, bigint] | undefined {
    if (!this.keys.length) return undefined
    const i = randomInt(this.keys.length)
    const k = this.keys[i]!
    const last = this.keys.pop()!
    if (i < this.keys.length) this.keys[i] = last
    return k
  }
  get size(): number {
    return this.keys.length
  }
}

/**
 * Unique time_created_ns values: wall-clock nanoseconds, strictly increasing in this process, with a random
 * per-process tag in the low 10 bits so two concurrent load processes never produce the same value.
 */
export class TimeSource {
  private last = 0n
  readonly tag: number
  constructor(tag = randomInt(1024)) {
    this.tag = tag
  }
  next(): bigint {
    const now = (BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor((performance.now() % 1) * 1e6))) >> 10n
    this.last = now > this.last ? now : this.last + 1n
    return (this.last << 10n) | BigInt(this.tag)
  }
}

/** A random page over the whole BIGINT UNSIGNED range (values ≥ 2^63 included). */
export function randomPage(): bigint {
  return randomBytes(8).readBigUInt64BE()
}

function message(page: bigint, bytes: number): string {
  const head = `guestbook page ${page} at ${new Date().toISOString()} `
  const fill = randomBytes(Math.ceil(bytes / 2)).toString('hex')
  return (head + fill).slice(0, Math.max(bytes, 16))
}

function errorKind(err: unknown): string {
  if (err instanceof RouterError) return err.code
  const e = err as {code?: string; errno?: number}
  return e?.code ?? (e?.errno ? `errno ${e.errno}` : 'error')
}

/** Run the guestbook load; resolves with the summary once stopped (duration over, or signal aborted). */
export async function runLoad(opts: LoadOptions): Promise<LoadSummary> {
  const table = opts.table ?? 'messages'
  const rate = opts.rate ?? 50
  const concurrency = Math.max(1, opts.concurrency ?? 4)
  const mix = opts.mix ?? DEFAULT_MIX
  const mixTotal = mix.insert + mix.update + mix.delete
  if (!(mixTotal > 0) || mix.insert < 0 || mix.update < 0 || mix.delete < 0)
    throw new ShardformError('the operation mix needs non-negative shares that add up to more than 0')
  if (rate < 0 || !Number.isFinite(rate))
    throw new ShardformError(`--rate must be a positive number of operations per second, not ${rate}`)
  const router =
    opts.router ??
    (await Router.open({
      store: opts.store,
      topoUrl: opts.topoUrl,
      keyspace: opts.keyspace,
      bufferWindowMs: opts.bufferWindowMs,
    }))
  const ownRouter = !opts.router
  const journal = opts.journalFile ? await JournalWriter.open(opts.journalFile) : undefined
  const times = new TimeSource()
  const bytes = opts.messageBytes ?? 100
  const t = qid(table)
  const sqlInsert = `INSERT INTO ${t} (page, time_created_ns, message) VALUES (?, ?, ?)`
  const sqlUpdate = `UPDATE ${t} SET message = ? WHERE page = ? AND time_created_ns = ?`
  const sqlDelete = `DELETE FROM ${t} WHERE page = ? AND time_created_ns = ?`

  const live = new KeyPool()
  const lat = new Latencies()
  const ops: Record<ChangeOp, number> = {insert: 0, update: 0, delete: 0}
  const errorKinds: Record<string, number> = {}
  const firstErrors: string[] = []
  let errors = 0
  let uncertain = 0
  let missingRows = 0
  let acknowledged = 0
  const statsBefore = router.stats()

  journal?.append({
    type: 'start',
    v: 1,
    keyspace: opts.keyspace,
    table,
    pid: process.pid,
    tag: times.tag,
    at: new Date().toISOString(),
  })

  const started = performance.now()
  const stopAt = opts.durationMs ? started + opts.durationMs : Infinity
  const stopped = () => opts.signal?.aborted || performance.now() >= stopAt
  // Pacing: operation i is due at base + i/rate; after a long pause (a buffered cutover) missed slots are dropped
  // rather than fired in a burst.
  const interval = rate > 0 ? 1000 / rate : 0
  let base = started
  let slot = 0
  const nextSlot = () => {
    if (!interval) return 0
    const now = performance.now()
    let due = base + slot * interval
    if (due < now - 1000) {
      base = now
      slot = 0
      due = now
    }
    slot++
    return due
  }

  const pickOp = (): ChangeOp => {
    const r = Math.random() * mixTotal
    if (r < mix.insert || live.size === 0) return 'insert'
    return r < mix.insert + mix.update ? 'update' : 'delete'
  }

  const fail = (op: ChangeOp, page: bigint, ts: bigint, err: unknown, h?: string) => {
    errors++
    const kind = errorKind(err)
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1
    if (firstErrors.length < 10) firstErrors.push(`${op} (${page}, ${ts}): ${errorMessage(err)}`)
    const isUncertain = err instanceof RouterError && err.uncertain
    if (isUncertain) uncertain++
    journal?.append({
      op,
      page: String(page),
      ts: String(ts),
      ...(h ? {h} : {}),
      at: Date.now(),
      error: errorMessage(err).slice(0, 500),
      ...(isUncertain ? {uncertain: true as const} : {failed: true as const}),
    })
    return isUncertain
  }

  const one = async () => {
    const op = pickOp()
    const key = op === 'insert' ? ([randomPage(), times.next()] as [bigint, bigint]) : live.take()!
    const [page, ts] = key
    const msg = op === 'delete' ? undefined : message(page, bytes)
    const h = msg === undefined ? undefined : messageHash(msg)
    const t0 = performance.now()
    try {
      const res =
        op === 'insert'
          ? await router.execute<ResultSetHeader>(table, page, sqlInsert, [page, ts, msg])
          : op === 'update'
            ? await router.execute<ResultSetHeader>(table, page, sqlUpdate, [msg, page, ts])
            : await router.execute<ResultSetHeader>(table, page, sqlDelete, [page, ts])
      const t1 = performance.now()
      lat.add(t1 - t0)
      opts.onOp?.({
        op,
        startMs: performance.timeOrigin + t0,
        endMs: performance.timeOrigin + t1,
        shard: res.target.shard,
        bufferedMs: res.bufferedMs,
        attempts: res.attempts,
      })
      acknowledged++
      ops[op]++
      journal?.append({
        op,
        page: String(page),
        ts: String(ts),
        ...(h ? {h} : {}),
        at: Date.now(),
        shard: res.target.shard,
      })
      if (res.rows.affectedRows !== 1) {
        // Our own row was not there: a lost row. Verify will report it; count it here too.
        missingRows++
        errors++
        errorKinds.missing_row = (errorKinds.missing_row ?? 0) + 1
        if (firstErrors.length < 10)
          firstErrors.push(
            `${op} (${page}, ${ts}) on shard ${res.target.shard} matched ${res.rows.affectedRows} rows: a row this client wrote is missing`,
          )
      }
      if (op !== 'delete' && res.rows.affectedRows === 1) live.add(key)
    } catch (err) {
      opts.onOp?.({
        op,
        startMs: performance.timeOrigin + t0,
        endMs: performance.timeOrigin + performance.now(),
        error: errorKind(err),
      })
      const isUncertain = fail(op, page, ts, err, h)
      // A definitely-refused update/delete leaves the row as it was: it may be changed again. Uncertain keys never are.
      if (!isUncertain && op !== 'insert') live.add(key)
    }
  }

  let lastProgress = started
  let lastAck = 0
  const worker = async () => {
    while (!stopped()) {
      const due = nextSlot()
      const wait = due - performance.now()
      if (wait > 0) {
        await sleep(Math.min(wait, Math.max(0, stopAt - performance.now())), undefined, {signal: opts.signal}).catch(
          () => undefined,
        )
        if (stopped()) break
      }
      await one()
      const now = performance.now()
      if (opts.onProgress && now - lastProgress >= (opts.progressMs ?? 1000)) {
        opts.onProgress({
          elapsedMs: now - started,
          acknowledged,
          errors,
          ratePerSec: ((acknowledged - lastAck) * 1000) / (now - lastProgress),
          holding: router.stats().holding,
        })
        lastProgress = now
        lastAck = acknowledged
      }
    }
  }

  let workerError: unknown
  try {
    await Promise.all(Array.from({length: concurrency}, worker))
  } catch (err) {
    workerError = err
  }
  const durationMs = performance.now() - started
  const st = router.stats()
  const summary: LoadSummary = {
    keyspace: opts.keyspace,
    table,
    durationMs: Math.round(durationMs),
    targetRate: rate,
    concurrency,
    ratePerSec: Math.round((acknowledged * 1000 * 10) / Math.max(1, durationMs)) / 10,
    acknowledged,
    ops,
    errors,
    errorKinds,
    uncertain,
    missingRows,
    firstErrors,
    latencyMs: lat.summary(),
    buffered: {
      buffered: st.buffered - statsBefore.buffered,
      bufferedOk: st.bufferedOk - statsBefore.bufferedOk,
      bufferTimeouts: st.bufferTimeouts - statsBefore.bufferTimeouts,
      maxBufferedMs: Math.round(st.maxBufferedMs),
    },
    liveRows: live.size,
    ...(journal ? {journal: journal.file} : {}),
  }
  try {
    if (journal) {
      journal.append({type: 'end', at: new Date().toISOString(), summary})
      await journal.close()
    }
  } finally {
    if (ownRouter) await router.close()
  }
  if (workerError) throw workerError
  return summary
}

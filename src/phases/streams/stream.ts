// Filtered replication: one source shard's binlog → the rows of one destination shard, exactly once.
// The reader (shared by the streams of one source: binlog-hub.ts) decodes transactions; the applier batches them into
// transactions on the destination that also advance the stream's stored position. The bounded queue between them, and
// how a held stream (a diff, a cutover) leaves the reader so it never holds back its siblings: tx-queue.ts.
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import type {BinlogTransaction} from '../../mysql/binlog.js'
import {quoteString} from '../../mysql/codec.js'
import {connectTablet, qid} from '../../mysql/connect.js'
import {advance, advanceInPlace, behind, formatGtidPos, parseGtidPos, reached, type GtidPos} from '../../mysql/gtid.js'
import {HEARTBEAT_INTERVAL_MS, nowUs} from '../../mysql/heartbeat.js'
import {dataSession} from '../../mysql/session.js'
import {describeSchema} from '../../mysql/tables.js'
import {placement, rowFilter} from '../routing.js'
import {applyStatements, transactionQueries, type ApplyOp} from './apply-sql.js'
import {netChanges} from './net-changes.js'
import {watchSourcePosition} from './source-position.js'
import {DDL_ALREADY_DONE, ddlFailed, ddlStopped, sourceLost} from './errors.js'
import {claim, fencedError} from './fence.js'
import {commitTimeLagSeconds, heartbeatLagMs, lagFields, type AppliedHeartbeat} from './lag.js'
import {routeChange, type DestinationTable} from './route-change.js'
import {
  advanceStatement,
  clearDdlNoteStatement,
  ensureStateTables,
  lockOwnedStatement,
  NOT_OWNER_ERRNO,
  PROCESS_OWNER,
  readDdlNote,
  readStream,
  writeDdlNote,
} from './state.js'
import {TransactionQueue} from './tx-queue.js'
import {limitLag, type StreamSpec, type StreamState, type StreamStatus} from './types.js'

/** How long stop() lets the batch in flight finish before aborting it. */
const STOP_GRACE_MS = 5_000

export class Stream {
  private readonly queue: TransactionQueue
  private apply?: Connection
  private unwatchSource?: () => void
  private position: GtidPos = new Map()
  private sourcePosition?: GtidPos
  private lastAppliedTs?: number
  private oldestPendingTs?: number
  /** When a poll first saw the source ahead of us (lag before its transactions arrive). */
  private behindSince?: number
  /** Has the reader delivered a transaction yet? Until then a stream resumed far behind has no measurable lag. */
  private received = false
  private pauseTarget?: GtidPos
  private state: StreamState = 'starting'
  private error?: Error
  private transactions = 0
  private rowChanges = 0
  private wake?: () => void
  private listeners = new Set<() => void>()
  private tables = new Map<string, DestinationTable>()
  private loop?: Promise<void>
  private applying = false
  /** A second session on the destination that holds the stream's row locked while a DDL runs (fencing). */
  private guard?: Connection
  private fenceListeners: Array<(err: Error) => void> = []
  private heartbeat?: AppliedHeartbeat

  private constructor(readonly spec: StreamSpec) {
    this.queue = new TransactionQueue({
      tablet: this.spec.source,
      database: this.spec.database,
      held: () => this.held,
      live: () => this.state === 'running' || this.state === 'paused',
      arrived: (tx) => {
        this.received = true
        this.oldestPendingTs ??= tx.timestamp
      },
      wake: () => this.wake?.(),
      paused: () => {
        this.state = 'paused'
        this.notify()
      },
      failed: (err) => this.fail(sourceLost(this.spec, err)),
    })
  }

  static async start(spec: StreamSpec): Promise<Stream> {
    const s = new Stream(spec)
    try {
      await s.open()
    } catch (err) {
      await s.close()
      throw err
    }
    return s
  }

  private async open(): Promise<void> {
    const sp = this.spec
    this.apply = await dataSession(sp.destination, 'apply')
    // A stream's destination never serves primary traffic while the stream runs (a new shard before its cutover, an
    // old one after it): keep application writes out even if a restart of the server cleared read_only.
    await this.apply.query('SET GLOBAL read_only = 1')
    // Tables of older releases lack the owner columns: added on first use.
    await ensureStateTables(this.apply)
    const row = await readStream(this.apply, sp.id)
    if (!row)
      throw new Error(
        `stream ${sp.id} has no stored position on tablet ${sp.destination.alias}; the clone of ${sp.sourceShard} must run first`,
      )
    await claim(this.apply!, this.spec, this.owner)
    this.position = parseGtidPos(row.position)
    this.transactions = row.transactions
    this.rowChanges = row.rowChanges
    await this.loadTables()
    try {
      this.unwatchSource = await watchSourcePosition(sp.source, (pos) => this.onSourcePosition(pos))
      await this.queue.start(row.position)
    } catch (err) {
      throw sourceLost(sp, err)
    }
    this.state = 'running'
    this.loop = this.run()
  }

  private get owner(): string {
    return this.spec.owner ?? PROCESS_OWNER
  }

  /** The destination's tables, as rows are routed and written: again after a DDL ran there. */
  private async loadTables(): Promise<void> {
    const sp = this.spec
    const schema = await describeSchema(this.apply!, sp.database)
    this.tables.clear()
    for (const t of schema.tables) {
      let p: ReturnType<typeof placement>
      try {
        p = placement(sp.vschema, t, sp.groupDestinations)
      } catch (err) {
        // A table the vschema cannot place (one a DDL just created, say) matters only once rows of it arrive.
        const keep = () => {
          throw err
        }
        this.tables.set(t.name, {info: t, keep, reference: false})
        continue
      }
      this.tables.set(t.name, {
        info: t,
        keep: rowFilter(p, t, {name: sp.destinationShard, kr: sp.destRange}),
        reference: p.kind === 'everywhere',
      })
    }
  }

  private onSourcePosition(pos: GtidPos): void {
    this.sourcePosition = pos
    if (reached(this.position, pos)) this.behindSince = undefined
    else this.behindSince ??= Date.now()
    this.notify()
  }

  private get held(): boolean {
    return this.pauseTarget !== undefined && reached(this.position, this.pauseTarget)
  }

  private async run(): Promise<void> {
    while (this.state === 'running' || this.state === 'paused') {
      this.queue.rejoin()
      const batch = this.queue.takeBatch(this.position, this.pauseTarget)
      if (!batch.length) {
        await new Promise<void>((r) => (this.wake = r))
        this.wake = undefined
        continue
      }
      this.applying = true
      try {
        await this.applyBatch(batch)
      } catch (err) {
        if ((err as {fenced?: boolean}).fenced) this.fence(err as Error)
        else this.fail(err as Error)
        return
      } finally {
        this.applying = false
        this.notify()
      }
      this.queue.resumeFeed()
    }
  }

  private positionAfter(txs: BinlogTransaction[]): GtidPos {
    const end = new Map(this.position)
    for (const tx of txs) advanceInPlace(end, tx.gtid)
    return end
  }

  private async applyBatch(batch: BinlogTransaction[]): Promise<void> {
    const sp = this.spec
    if (batch.length === 1 && batch[0].ddl) return this.applyDdl(batch[0])
    const ops: ApplyOp[] = []
    for (const tx of batch) {
      for (const ch of tx.changes) routeChange(this.tables, this.spec, ch, ops)
    }
    const next = this.positionAfter(batch)
    // The owner check comes first: it locks the stream's row, and a stale applier's rows never run.
    const stmts = [
      advanceStatement(sp.id, this.owner, formatGtidPos(next), batch.length, ops.length, quoteString),
      ...applyStatements(sp.database, netChanges(ops)),
    ]
    try {
      for (const sql of transactionQueries(stmts)) await this.apply!.query(sql)
    } catch (err) {
      await this.apply!.query('ROLLBACK').catch(() => undefined)
      if ((err as {errno?: number}).errno === NOT_OWNER_ERRNO)
        throw Object.assign(await fencedError(this.apply!, this.spec, this.owner), {fenced: true})
      throw new Error(
        `applying transactions up to ${batch[batch.length - 1].gtid} from ${sp.sourceShard} on tablet ${sp.destination.alias}: ${(err as Error).message}`,
        {cause: err},
      )
    }
    this.position = next
    this.transactions += batch.length
    this.rowChanges += ops.length
    this.noteHeartbeat(batch)
    this.lastAppliedTs = batch[batch.length - 1].timestamp
    this.oldestPendingTs = this.queue.oldestTimestamp
    this.notify()
  }

  /** The newest heartbeat of this stream's source, written by this process (its clock), in a committed batch. */
  private noteHeartbeat(batch: BinlogTransaction[]): void {
    const writer = PROCESS_OWNER
    let tsUs: number | undefined
    for (const tx of batch)
      for (const hb of tx.heartbeats ?? [])
        if (hb.writer === writer && hb.shard === this.spec.sourceShard) tsUs = Math.max(tsUs ?? 0, hb.tsUs)
    if (tsUs !== undefined) this.heartbeat = {writtenMs: tsUs / 1000, appliedMs: nowUs() / 1000}
  }

  /**
   * A source DDL. `stop`: the stream fails with the statement. `exec`: the statement runs on the destination, then
   * the position moves past it. DDL commits on its own, so a note of it is written first and removed with the
   * position: found on restart, the statement may already have run, and errors saying so are accepted.
   */
  private async applyDdl(tx: BinlogTransaction): Promise<void> {
    const sp = this.spec
    const statement = tx.ddl!.trim()
    if (sp.onDdl !== 'exec') {
      throw ddlStopped(sp, statement, tx.gtid)
    }
    const c = this.apply!
    await ensureStateTables(c)
    // DDL commits on its own, so the owner check cannot share its transaction: a second session holds the stream's
    // row locked from the check to the position after the DDL, and a takeover waits until then.
    this.guard ??= await dataSession(sp.destination, 'apply')
    const guard = this.guard
    try {
      await guard.query(`START TRANSACTION;${lockOwnedStatement(sp.id, this.owner, quoteString)}`)
    } catch (err) {
      await guard.query('ROLLBACK').catch(() => undefined)
      if ((err as {errno?: number}).errno === NOT_OWNER_ERRNO)
        throw Object.assign(await fencedError(this.apply!, this.spec, this.owner), {fenced: true})
      throw err
    }
    const next = advance(this.position, tx.gtid)
    try {
      const again = (await readDdlNote(c, sp.id)) === tx.gtid
      if (!again) await writeDdlNote(c, sp.id, tx.gtid, statement)
      try {
        await c.query(`USE ${qid(tx.ddlSchema || sp.database)}`)
        await c.query(statement)
      } catch (err) {
        const errno = (err as {errno?: number}).errno
        if (!again || !errno || !DDL_ALREADY_DONE.has(errno)) throw ddlFailed(sp, statement, tx.gtid, err)
      }
      await guard.query(
        `${advanceStatement(sp.id, this.owner, formatGtidPos(next), 1, 0, quoteString)};${clearDdlNoteStatement(sp.id, quoteString)};COMMIT`,
      )
    } catch (err) {
      await guard.query('ROLLBACK').catch(() => undefined)
      if ((err as {errno?: number}).errno === NOT_OWNER_ERRNO)
        throw Object.assign(await fencedError(this.apply!, this.spec, this.owner), {fenced: true})
      throw err
    }
    this.position = next
    this.transactions += 1
    this.lastAppliedTs = tx.timestamp
    this.oldestPendingTs = this.queue.oldestTimestamp
    await this.loadTables()
    this.notify()
  }

  private fail(err: Error): void {
    if (this.state === 'failed' || this.state === 'stopped' || this.state === 'fenced') return
    this.state = 'failed'
    this.error = err
    this.queue.stopFeed()
    this.wake?.()
    this.notify()
  }

  /** Another applier owns the stream now: stop for good (not a failure to retry). */
  private fence(err: Error): void {
    if (this.state === 'fenced') return
    this.state = 'fenced'
    this.error = err
    this.queue.stopFeed()
    this.wake?.()
    this.notify()
    for (const l of this.fenceListeners) l(err)
  }

  /** Called once if another applier takes the stream over (to say so in the log). */
  onFenced(listener: (err: Error) => void): void {
    this.fenceListeners.push(listener)
  }

  /** Set when another applier took the stream over: this stream object never applies again. */
  get fenced(): Error | undefined {
    return this.state === 'fenced' ? this.error : undefined
  }

  private notify(): void {
    for (const l of this.listeners) l()
  }

  /** Resolves when `cond` holds after some change, rejects when the stream fails or `timeoutMs` passes (→ false). */
  private waitFor(cond: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.state === 'failed' || this.state === 'fenced') return done(() => reject(this.error))
        if (cond()) return done(() => resolve(true))
        if (this.state === 'stopped') return done(() => reject(new Error(`stream ${this.spec.id} was stopped`)))
      }
      const timer = setTimeout(() => done(() => resolve(false)), timeoutMs)
      const onAbort = () => done(() => reject(signal?.reason ?? new Error('aborted')))
      signal?.addEventListener('abort', onAbort, {once: true})
      const done = (f: () => void) => {
        clearTimeout(timer)
        this.listeners.delete(check)
        signal?.removeEventListener('abort', onAbort)
        f()
      }
      this.listeners.add(check)
      check()
    })
  }

  /** Apply everything up to exactly `target` and hold there. Fails when the stream is already beyond it. */
  async pauseAt(target: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const t = parseGtidPos(target)
    if (this.isBeyond(t))
      throw new Error(`stream ${this.spec.id} is already at ${formatGtidPos(this.position)}, beyond ${target}`)
    this.pauseTarget = t
    this.wake?.()
    const ok = await this.waitFor(() => reached(this.position, t), timeoutMs, signal)
    if (!ok) {
      this.unpause()
      throw new Error(
        `stream ${this.spec.id} did not reach ${target} within ${Math.round(timeoutMs / 1000)}s (at ${formatGtidPos(this.position)})`,
      )
    }
    this.state = 'paused'
  }

  /** Stop applying after the batch in flight; resolves with the position held. */
  async hold(signal?: AbortSignal): Promise<string> {
    this.pauseTarget = new Map(this.position)
    await this.waitFor(() => !this.applying, 60_000, signal)
    this.pauseTarget = new Map(this.position)
    this.state = 'paused'
    return formatGtidPos(this.position)
  }

  unpause(): void {
    this.pauseTarget = undefined
    if (this.state === 'paused') this.state = 'running'
    this.wake?.()
  }

  private isBeyond(t: GtidPos): boolean {
    for (const e of this.position.values()) {
      const x = t.get(e.domain)
      if (x && e.seq > x.seq) return true
    }
    return false
  }

  /** Wait until the stream has applied `target` (true) or `timeoutMs` passed (false). */
  waitUntil(target: string, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const t = parseGtidPos(target)
    return this.waitFor(() => reached(this.position, t), timeoutMs, signal)
  }

  /** Wait until lag is at most `seconds` (true) or timeout (false). */
  waitForLag(seconds: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    return this.waitFor(
      () => {
        const l = limitLag(this.status())
        return l !== undefined && l <= seconds
      },
      timeoutMs,
      signal,
    )
  }

  status(): StreamStatus {
    const sp = this.spec
    const src = this.sourcePosition
    const caughtUp = src ? reached(this.position, src) : false
    // Right after (re)start, behindSince is "now" however far behind the stored position is: lag is unknown until
    // the first transaction shows its commit time (else a resumed stream looks caught up, or a failing one does).
    const pendingSince = this.oldestPendingTs ?? (this.received ? this.behindSince : undefined)
    const beat = heartbeatLagMs(this.heartbeat, nowUs() / 1000, caughtUp, HEARTBEAT_INTERVAL_MS)
    const seconds = commitTimeLagSeconds(src !== undefined, caughtUp, pendingSince, Date.now())
    return {
      id: sp.id,
      source: sp.sourceShard,
      destination: sp.destinationShard,
      state: this.state,
      position: formatGtidPos(this.position),
      ...(src ? {sourcePosition: formatGtidPos(src), eventsBehind: Number(behind(this.position, src))} : {}),
      ...lagFields(beat, seconds),
      transactions: this.transactions,
      rowChanges: this.rowChanges,
      ...(this.error ? {error: this.error.message} : {}),
    }
  }

  get failure(): Error | undefined {
    return this.error
  }

  async stop(): Promise<void> {
    if (this.state !== 'failed' && this.state !== 'fenced') this.state = 'stopped'
    this.queue.stopFeed()
    this.wake?.()
    this.notify()
    await this.interruptStuckBatch()
    await this.loop?.catch(() => undefined)
    await this.close()
  }

  /**
   * A batch blocked on the destination (a table lock held there) would hold stop(), and so the apply, until it is
   * released. Abort its statement: the batch fails and is rolled back together with its position (exactly once).
   */
  private async interruptStuckBatch(): Promise<void> {
    const loop = this.loop
    if (!loop) return
    const finished = await Promise.race([
      loop.then(
        () => true,
        () => true,
      ),
      sleep(STOP_GRACE_MS, false, {ref: false}),
    ])
    if (finished || !this.applying || !this.apply) return
    const admin = await connectTablet(this.spec.destination, 'admin').catch(() => undefined)
    await admin?.query(`KILL QUERY ${Number(this.apply.threadId)}`).catch(() => undefined)
    await admin?.end().catch(() => undefined)
  }

  private async close(): Promise<void> {
    this.unwatchSource?.()
    this.queue.stopFeed()
    await this.apply?.end().catch(() => undefined)
    await this.guard?.end().catch(() => undefined)
  }
}

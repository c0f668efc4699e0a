// A stream's queue of source transactions, between the shared reader (binlog-hub.ts) and the applier, and the stream's
// place in that reader: a full queue pauses the reader, unless the stream is held, which then leaves the reader and joins
// it again from where its queue ends once it applies again, so a held stream never holds back its siblings.
import type {BinlogTransaction} from '../../mysql/binlog.js'
import {advanceInPlace, formatGtidPos, parseGtidPos, reached, type GtidPos} from '../../mysql/gtid.js'
import type {TabletRecord} from '../../topo/records.js'
import {subscribe, type Feed} from './binlog-hub.js'

const MAX_QUEUED_CHANGES = 50_000
// While a backlog exists a batch takes what is queued, up to the queue's own bound: a destination transaction then
// changes many rows of each index page it reads and writes (rows are applied in key order, see net-changes.ts).
const MAX_BATCH_CHANGES = MAX_QUEUED_CHANGES
const MAX_BATCH_TX = 20_000

/** The stream's source, and what the queue needs of the stream. */
export interface QueueOwner {
  tablet: TabletRecord
  database: string
  /** Held at its pause target: applies nothing more for now. */
  held(): boolean
  /** Still applying or held (not stopped, failed or fenced). */
  live(): boolean
  /** A transaction was queued (lag bookkeeping). */
  arrived(tx: BinlogTransaction): void
  /** There is something for the applier to look at. */
  wake(): void
  /** takeBatch found the stream held before the next transaction. */
  paused(): void
  /** The reader failed, or joining it again did. */
  failed(err: unknown): void
}

export class TransactionQueue {
  private feed?: Feed
  /** The position after the last queued transaction: where the stream joins the reader again after leaving it. */
  private queuedUpTo: GtidPos = new Map()
  /** Left the reader while held with a full queue (see backpressure). */
  private detached = false
  private rejoining = false
  private txs: BinlogTransaction[] = []
  private queuedChanges = 0

  constructor(private readonly owner: QueueOwner) {}

  /** Join the reader after the stream's stored position. */
  async start(from: string): Promise<void> {
    this.queuedUpTo = parseGtidPos(from)
    this.feed = await this.subscribe(from)
  }

  private subscribe(from: string): Promise<Feed> {
    const o = this.owner
    return subscribe({
      tablet: o.tablet,
      database: o.database,
      fromGtid: from,
      onTransaction: (tx) => this.enqueue(tx),
      onError: (err) => o.failed(err),
    })
  }

  /** The source commit time of the oldest transaction not taken yet. */
  get oldestTimestamp(): number | undefined {
    return this.txs[0]?.timestamp
  }

  // Only a live subscription delivers: the one left behind was stopped when the stream left the reader. A new one
  // may deliver before its promise resolves (the reader admits it, then waits for other joiners): those transactions
  // follow the queue's end and are kept.
  private enqueue(tx: BinlogTransaction): void {
    this.txs.push(tx)
    advanceInPlace(this.queuedUpTo, tx.gtid)
    this.owner.arrived(tx)
    this.queuedChanges += tx.changes.length
    if (this.queuedChanges > MAX_QUEUED_CHANGES) this.backpressure()
    this.owner.wake()
  }

  /** The queue is full: pause the shared reader, or, held, leave it (the siblings read on). */
  private backpressure(): void {
    if (!this.owner.held()) return this.feed?.pause()
    this.detached = true
    this.stopFeed()
  }

  stopFeed(): void {
    this.feed?.stop()
    this.feed = undefined
  }

  /** Applying again after leaving the reader: join it from the end of the queue (it rewinds if it is past that). */
  rejoin(): void {
    if (!this.detached || this.rejoining || this.owner.held() || this.queuedChanges >= MAX_QUEUED_CHANGES / 2) return
    this.rejoining = true
    this.subscribe(formatGtidPos(this.queuedUpTo)).then(
      (feed) => {
        this.rejoining = false
        if (!this.owner.live()) return feed.stop()
        this.feed = feed
        this.detached = false
        // What it delivered before it was ours may have filled the queue again.
        if (this.queuedChanges > MAX_QUEUED_CHANGES) this.backpressure()
        this.owner.wake()
      },
      (err: unknown) => {
        this.rejoining = false
        this.owner.failed(err)
      },
    )
  }

  /** After a batch is applied: the reader reads on once the queue is half empty. */
  resumeFeed(): void {
    if (this.queuedChanges < MAX_QUEUED_CHANGES / 2) this.feed?.resume()
  }

  /**
   * The next batch after `position`, ending at `target` at the latest (one splice: shifting a queue of thousands one
   * by one is quadratic).
   */
  takeBatch(position: GtidPos, target: GtidPos | undefined): BinlogTransaction[] {
    const q = this.txs
    // Held at a target: the running end of the batch, to stop exactly there and never take a transaction beyond it.
    const end = target ? new Map(position) : undefined
    let n = 0
    let changes = 0
    while (n < q.length && n < MAX_BATCH_TX && changes < MAX_BATCH_CHANGES) {
      const tx = q[n]
      if (!n && this.owner.held()) {
        // Held with the reader paused on our full queue: leave it, the siblings read on.
        if (this.queuedChanges > MAX_QUEUED_CHANGES / 2) this.backpressure()
        this.owner.paused()
        break
      }
      if (end && !reached(target!, advanceInPlace(end, tx.gtid))) break
      // A DDL transaction is a batch of its own: it commits by itself on the destination.
      if (tx.ddl && n) break
      n++
      changes += tx.changes.length
      if (tx.ddl) break
      this.queuedChanges -= tx.changes.length
    }
    return q.splice(0, n)
  }
}

// One binlog reader per source tablet and database in this process, shared by every stream that reads it (the streams
// of a source shard into each destination of its group): the source sends, and this process decodes, each event once
// however many destinations there are.
// Each subscriber resumes from its own stored position. The reader starts at the earliest of them, and a subscription
// drops the transactions its position already covers. A subscriber behind the reader (a stream restarted from an
// older position) rewinds it: the reader starts again from there and the others skip what they already have.
// Backpressure is shared: the reader pauses while any subscriber's queue is full (a stream held for a diff or a
// cutover leaves instead, see tx-queue.ts, so it never holds back the others).
import {setTimeout as sleep} from 'node:timers/promises'
import {BinlogReader, type BinlogTransaction} from '../../mysql/binlog.js'
import {advanceInPlace, covers, formatGtidPos, parseGtidPos, reached, type GtidPos} from '../../mysql/gtid.js'
import type {TabletRecord} from '../../topo/records.js'
import {readerServerId} from '../context.js'
import {PROCESS_OWNER} from './state.js'

/** Streams opened together (a group's, at start) join one reader start instead of rewinding it one by one. */
const GATHER_MS = 50

export interface FeedOptions {
  tablet: TabletRecord
  database: string
  /** Deliver the transactions after this position. */
  fromGtid: string
  onTransaction(tx: BinlogTransaction): void
  onError(err: Error): void
}

/** A subscriber's view of the shared reader. */
export interface Feed {
  /** Backpressure: the reader stops reading until every paused subscriber resumes. */
  pause(): void
  resume(): void
  /** Leave (the reader stops when its last subscriber leaves). */
  stop(): void
}

const hubs = new Map<string, Hub>()
let readers = 0

/** Subscribe to the source's binlog from `fromGtid`; resolves once transactions flow (rejects if the reader fails). */
export function subscribe(o: FeedOptions): Promise<Feed> {
  const key = `${o.tablet.alias}\n${o.database}`
  let hub = hubs.get(key)
  if (!hub) {
    hub = new Hub(key, o.tablet, o.database)
    hubs.set(key, hub)
  }
  return hub.add(o)
}

/** Readers this process has started (rewinds included): a test's and a benchmark's view of the sharing. */
export function readersStarted(): number {
  return readers
}

class Subscription implements Feed {
  received: GtidPos
  active = false
  closed = false
  /** Why the reader stopped under it, when it did before the subscriber was told. */
  failure?: Error

  constructor(
    private readonly hub: Hub,
    readonly o: FeedOptions,
  ) {
    this.received = parseGtidPos(o.fromGtid)
  }

  offer(tx: BinlogTransaction): void {
    if (this.closed || covers(this.received, tx.gtid)) return
    advanceInPlace(this.received, tx.gtid)
    this.o.onTransaction(tx)
  }

  pause(): void {
    this.hub.pause(this)
  }

  resume(): void {
    this.hub.resume(this)
  }

  stop(): void {
    if (this.closed) return
    this.closed = true
    this.hub.remove(this)
  }
}

class Hub {
  /** Receiving transactions. */
  private readonly subs = new Set<Subscription>()
  /** Waiting to be let in by the next start cycle (never given a transaction before: it might skip their gap). */
  private readonly joining = new Set<Subscription>()
  private readonly pausing = new Set<Subscription>()
  private reader?: BinlogReader
  /** Bumped whenever the reader is replaced: events of an older reader are dropped. */
  private gen = 0
  /** The position after the last transaction the current reader delivered (or its start). */
  private pos?: GtidPos
  private cycle?: Promise<void>

  constructor(
    private readonly key: string,
    private readonly tablet: TabletRecord,
    private readonly database: string,
  ) {}

  async add(o: FeedOptions): Promise<Feed> {
    const sub = new Subscription(this, o)
    this.joining.add(sub)
    this.cycle ??= this.admit().finally(() => (this.cycle = undefined))
    try {
      await this.cycle
    } catch (err) {
      sub.closed = true
      throw err
    }
    if (sub.closed) throw sub.failure ?? new Error(`the binlog reader of ${this.tablet.alias} stopped`)
    sub.active = true
    return sub
  }

  remove(sub: Subscription): void {
    this.subs.delete(sub)
    this.joining.delete(sub)
    if (this.pausing.delete(sub) && !this.pausing.size) this.reader?.resume()
    if (!this.subs.size && !this.joining.size) this.close()
  }

  private close(): void {
    this.gen++
    this.reader?.stop()
    this.reader = undefined
    this.pos = undefined
    if (hubs.get(this.key) === this) hubs.delete(this.key)
  }

  pause(sub: Subscription): void {
    if (sub.closed) return
    this.pausing.add(sub)
    this.reader?.pause()
  }

  resume(sub: Subscription): void {
    if (this.pausing.delete(sub) && !this.pausing.size) this.reader?.resume()
  }

  /**
   * Let the joining subscribers in: as they are when the reader has passed nothing they lack, else after starting
   * the reader again at the earliest position anyone needs. Those arriving meanwhile wait for the next round.
   */
  private async admit(): Promise<void> {
    while (this.joining.size) {
      await sleep(GATHER_MS)
      const joining = [...this.joining].filter((s) => !s.closed)
      this.joining.clear()
      const from = earliest([...this.subs, ...joining].map((s) => s.received))
      if (this.reader && this.pos && reached(from, this.pos)) {
        for (const s of joining) this.subs.add(s)
        continue
      }
      const gen = ++this.gen
      this.reader?.stop()
      this.reader = undefined
      for (const s of joining) this.subs.add(s)
      if (!this.subs.size) continue
      this.pos = from
      let reader: BinlogReader
      try {
        reader = await BinlogReader.start({
          tablet: this.tablet,
          database: this.database,
          fromGtid: formatGtidPos(from),
          serverId: readerServerId(`${this.key}\n${PROCESS_OWNER}\n${++readers}`),
          onTransaction: (tx) => {
            if (gen === this.gen) this.deliver(tx)
          },
          onError: (err) => {
            if (gen === this.gen) this.failAll(err)
          },
        })
      } catch (err) {
        if (gen === this.gen) this.failAll(err as Error)
        throw err
      }
      if (gen !== this.gen) {
        reader.stop()
        continue
      }
      this.reader = reader
      if (this.pausing.size) reader.pause()
    }
  }

  private deliver(tx: BinlogTransaction): void {
    advanceInPlace(this.pos!, tx.gtid)
    for (const s of this.subs) s.offer(tx)
  }

  /** The reader failed: every subscriber hears it (its stream fails and is started again, with a new reader). */
  private failAll(err: Error): void {
    const subs = [...this.subs, ...this.joining]
    for (const s of subs) Object.assign(s, {closed: true, failure: err})
    this.subs.clear()
    this.joining.clear()
    this.pausing.clear()
    this.close()
    for (const s of subs) if (s.active) s.o.onError(err)
  }
}

/** Per domain, the earliest of the positions (a domain missing from any of them is read from its start). */
export function earliest(positions: GtidPos[]): GtidPos {
  const out: GtidPos = new Map()
  const [first, ...rest] = positions
  for (const [d, e] of first ?? new Map()) {
    let min = e
    let everywhere = true
    for (const p of rest) {
      const x = p.get(d)
      if (!x) everywhere = false
      else if (x.seq < min.seq) min = x
    }
    if (everywhere) out.set(d, min)
  }
  return out
}

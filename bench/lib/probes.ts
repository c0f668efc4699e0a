// Probe rows and a steady writer for the server benchmarks: what a user sees, read on the instances themselves.
// A probe row is written on the source primary; its arrival is when a query on its destination primary returns it
// (polled every pollMs, all pending probes of a destination in one query). Independent of shardform's records.
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {keyspaceIds} from '../../src/keyspace/vindexes/index.js'
import type {TestCluster} from '../../test/helpers/cluster.js'

/** The destination primary owning a page (hash vindex; -80 or 80-). */
export function destinationOf(page: bigint, low: string, high: string): string {
  const [id] = keyspaceIds('hash', [page])
  return id![0]! < 0x80 ? low : high
}

export interface Percentiles {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

export function percentiles(values: number[]): Percentiles {
  const v = [...values].sort((a, b) => a - b)
  const q = (x: number) => (v.length ? v[Math.min(v.length - 1, Math.ceil(x * v.length) - 1)]! : NaN)
  return {count: v.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: v.length ? v[v.length - 1]! : NaN}
}

export const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b)
  return v.length ? (v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2) : NaN
}

interface Pending {
  page: bigint
  writtenAt: number
  resolve: (ms: number) => void
}

/** Probe rows: page PROBE_BASE + n (distinct from the writer's and the loaded rows). */
export class Prober {
  private static readonly BASE = 9_000_000_000n
  private seq = 0n
  private readonly pending = new Map<string, Pending[]>()
  private running = false
  private poller?: Promise<void>
  private readonly reads = new Map<string, Connection>()
  private write?: Connection

  constructor(
    private readonly c: TestCluster,
    private readonly o: {source: string; low: string; high: string; pollMs?: number},
  ) {}

  async start(): Promise<this> {
    this.write = await this.c.connect(this.o.source)
    for (const d of [this.o.low, this.o.high]) this.reads.set(d, await this.c.connect(d, 'admin'))
    this.running = true
    this.poller = this.poll()
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await this.poller
    await this.write?.end().catch(() => undefined)
    for (const r of this.reads.values()) await r.end().catch(() => undefined)
  }

  /** Write one probe row now (into `to`'s key range when given); `arrived`: ms from just before the INSERT to its arrival on the destination. */
  async probe(to?: string): Promise<{arrived: Promise<number>}> {
    let page = Prober.BASE + ++this.seq
    // A row for destination `to`: the next page whose keyspace id falls there.
    while (to && destinationOf(page, this.o.low, this.o.high) !== to) page = Prober.BASE + ++this.seq
    const dest = destinationOf(page, this.o.low, this.o.high)
    const writtenAt = Date.now()
    await this.write!.query('INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
      page.toString(),
      writtenAt,
      'probe',
    ])
    const arrived = new Promise<number>((resolve) => {
      const list = this.pending.get(dest) ?? []
      list.push({page, writtenAt, resolve})
      this.pending.set(dest, list)
    })
    return {arrived}
  }

  /** Probes every `everyMs` for `seconds`; the arrival times of all of them (waits up to `waitMs` for stragglers). */
  async series(seconds: number, everyMs: number, waitMs = 60_000): Promise<{lags: number[]; lost: number}> {
    const arrivals: Promise<number>[] = []
    const end = Date.now() + seconds * 1000
    while (Date.now() < end) {
      const t = Date.now()
      arrivals.push((await this.probe()).arrived)
      await sleep(Math.max(0, everyMs - (Date.now() - t)))
    }
    const timeout = sleep(waitMs).then(() => -1)
    const lags = await Promise.all(arrivals.map((a) => Promise.race([a, timeout])))
    return {lags: lags.filter((x) => x >= 0), lost: lags.filter((x) => x < 0).length}
  }

  private async poll(): Promise<void> {
    const pollMs = this.o.pollMs ?? 20
    while (this.running) {
      const t = Date.now()
      for (const [dest, list] of this.pending) {
        if (!list.length) continue
        try {
          const [rows] = (await this.reads
            .get(dest)!
            .query(`SELECT page FROM messages WHERE page IN (${list.map((p) => p.page.toString()).join(',')})`)) as [
            Array<{page: unknown}>,
            unknown,
          ]
          const now = Date.now()
          const found = new Set(rows.map((r) => String(r.page)))
          this.pending.set(
            dest,
            list.filter((p) => {
              if (!found.has(p.page.toString())) return true
              p.resolve(now - p.writtenAt)
              return false
            }),
          )
        } catch {
          // a failed poll is retried next tick
        }
      }
      await sleep(Math.max(1, pollMs - (Date.now() - t)))
    }
  }
}

/** Guestbook rows written on the source primary at a steady rate (several connections), until stopped or `max` written. */
export class SteadyWriter {
  private running = false
  private lanes: Promise<void>[] = []
  private conns: Connection[] = []
  written = 0
  errors = 0
  late = 0

  constructor(
    private readonly c: TestCluster,
    private readonly source: string,
    private readonly rate: number,
    private readonly connections = 4,
    /** A cap on the writes (row k for k < max); the lanes end there. */
    private readonly max = Infinity,
  ) {}

  async start(): Promise<this> {
    for (let i = 0; i < this.connections; i++) this.conns.push(await this.c.connect(this.source))
    this.running = true
    const t0 = Date.now()
    const every = 1000 / this.rate
    this.lanes = this.conns.map(async (conn, lane) => {
      for (let k = lane; this.running && k < this.max; k += this.conns.length) {
        const wait = t0 + k * every - Date.now()
        if (wait > 0) await sleep(wait)
        else if (wait < -1000) this.late++
        if (!this.running) break
        const page = 1_000_000_000n + BigInt(k)
        try {
          await conn.query('INSERT INTO messages (page, time_created_ns, message) VALUES (?, ?, ?)', [
            page.toString(),
            Date.now(),
            `steady writer ${k}`,
          ])
          this.written++
        } catch {
          this.errors++
        }
      }
    })
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.allSettled(this.lanes)
    for (const c of this.conns) await c.end().catch(() => undefined)
  }
}

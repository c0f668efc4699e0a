// Replication lag as a user feels it: how long after the source has a change do the destinations have it?
// Every probeMs the source's @@gtid_binlog_pos is read (time t); the destinations' stream positions (stored in
// _shardform.streams in the same transaction as the rows) are polled every pollMs; a probe's lag is the time at
// which every destination has reached its position, minus t. Independent of shardform's own lag estimate.
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import {parseGtidPos, reached, type GtidPos} from '../../src/mysql/gtid.js'
import {gtidBinlogPos, text} from './cluster.js'

interface Probe {
  at: number
  pos: GtidPos
  lagMs?: number
  resolvedAt?: number
}

export interface LagWindow {
  probes: number
  resolved: number
  maxMs: number
  p50Ms: number
  p99Ms: number
  /** Age of the oldest probe still unresolved at the window's end (ms), 0 if none. */
  pendingMs: number
}

/** Stream positions (and applied row changes) stored on destination primaries. */
export async function streamRows(
  dest: Connection,
): Promise<Array<{id: string; position: GtidPos; rowChanges: number; transactions: number}>> {
  const [rows] = (await dest.query(
    'SELECT id, position, row_changes, transactions FROM _shardform.streams',
  )) as unknown as [Array<Record<string, unknown>>]
  return rows.map((r) => ({
    id: text(r.id),
    position: parseGtidPos(text(r.position)),
    rowChanges: Number(text(r.row_changes)),
    transactions: Number(text(r.transactions)),
  }))
}

export class LagProbe {
  private probes: Probe[] = []
  private front = 0
  private running = false
  private loops: Promise<void>[] = []

  constructor(
    private readonly source: Connection,
    private readonly dests: Connection[],
    private readonly probeMs = 100,
    private readonly pollMs = 50,
  ) {}

  start(): this {
    this.running = true
    this.loops = [this.probeLoop(), this.pollLoop()]
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await Promise.allSettled(this.loops)
  }

  private async probeLoop(): Promise<void> {
    while (this.running) {
      const at = Date.now()
      try {
        this.probes.push({at, pos: parseGtidPos(await gtidBinlogPos(this.source))})
      } catch {
        // a missed probe is only a gap in the series
      }
      await sleep(Math.max(0, this.probeMs - (Date.now() - at)))
    }
  }

  private async pollLoop(): Promise<void> {
    while (this.running) {
      const t0 = Date.now()
      try {
        const positions = (await Promise.all(this.dests.map(streamRows))).flat().map((s) => s.position)
        const at = (t0 + Date.now()) / 2
        while (this.front < this.probes.length) {
          const p = this.probes[this.front]
          if (!positions.length || !positions.every((x) => reached(x, p.pos))) break
          p.lagMs = Math.max(0, at - p.at)
          p.resolvedAt = at
          this.front++
        }
      } catch {
        // retry next tick
      }
      await sleep(Math.max(0, this.pollMs - (Date.now() - t0)))
    }
  }

  /** Probes taken in [from, to): lag distribution, and how old the oldest unresolved one is at `to`. */
  window(from: number, to: number): LagWindow {
    const ps = this.probes.filter((p) => p.at >= from && p.at < to)
    const lags = ps
      .filter((p) => p.lagMs !== undefined && p.resolvedAt! <= to)
      .map((p) => p.lagMs!)
      .sort((a, b) => a - b)
    const pending = ps.filter((p) => p.lagMs === undefined || p.resolvedAt! > to)
    const pendingMs = pending.length ? to - pending[0].at : 0
    const q = (x: number) => (lags.length ? lags[Math.min(lags.length - 1, Math.ceil(x * lags.length) - 1)] : 0)
    return {
      probes: ps.length,
      resolved: lags.length,
      maxMs: Math.max(lags.length ? lags[lags.length - 1] : 0, pendingMs),
      p50Ms: q(0.5),
      p99Ms: q(0.99),
      pendingMs,
    }
  }

  /** Resolves when every probe taken so far is resolved (the destinations caught up), or false after `ms`. */
  async drained(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms
    const upTo = this.probes.length
    while (Date.now() < deadline) {
      if (this.front >= upTo) return true
      await sleep(50)
    }
    return false
  }
}

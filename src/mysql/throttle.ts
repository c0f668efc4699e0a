// A light touch on production sources, as Vitess's tablet throttler: copy and diff wait between chunks while a
// replica of the source shard lags more than a limit (they add load that the replicas must replay or compete with).
// Lag is the replica's Seconds_Behind_Master, checked at most once a second. A replica whose replication does not
// run (stopped by an operator, or by shardform for a snapshot) is left out: it says nothing about the load.
import {setTimeout as sleep} from 'node:timers/promises'
import type {TabletRecord} from '../topo/records.js'
import {withTablet} from './connect.js'

type Row = Record<string, unknown>

/** One replica's lag in seconds, or undefined when it does not replicate now (or cannot be reached). */
async function replicaLag(t: TabletRecord): Promise<number | undefined> {
  return withTablet(t, 'admin', async (c) => {
    const [rows] = (await c.query('SHOW SLAVE STATUS')) as unknown as [Row[]]
    const st = rows[0]
    const behind = st?.Seconds_Behind_Master
    if (!st || String(st.Slave_SQL_Running) !== 'Yes' || behind === null || behind === undefined) return undefined
    return Number(behind)
  }).catch(() => undefined)
}

/** The worst lag above `limit` among `tablets`, as a reason to wait ("replica X lags 12 s"), or undefined. */
export async function lagAbove(tablets: TabletRecord[], limit: number): Promise<string | undefined> {
  const lags = await Promise.all(tablets.map(async (t) => ({t, lag: await replicaLag(t)})))
  const worst = lags.filter((x) => x.lag !== undefined && x.lag > limit).sort((a, b) => b.lag! - a.lag!)[0]
  return worst ? `${worst.t.type} ${worst.t.alias} lags ${worst.lag} s (limit ${limit} s)` : undefined
}

export interface ThrottleOptions {
  /** The source shard's replicas to watch (the tablet holding a snapshot is best left out). */
  tablets: TabletRecord[]
  /** Seconds of lag above which work waits; 0 turns the throttle off. */
  limitSeconds: number
  /** Called when waiting starts (with why) and when it ends (undefined). */
  onChange?: (why: string | undefined) => void
  signal?: AbortSignal
  /** How often lag is read (ms, default 1000). */
  checkMs?: number
}

export interface Throttle {
  /** Resolves at once while every replica is within the limit; otherwise when they are again. */
  wait(): Promise<void>
  /** Total time spent waiting (ms). */
  readonly waitedMs: number
}

export function replicaLagThrottle(o: ThrottleOptions): Throttle {
  const every = o.checkMs ?? 1000
  let checkedAt = 0
  let why: string | undefined
  let waitedMs = 0
  const check = async () => {
    if (Date.now() - checkedAt < every) return why
    checkedAt = Date.now()
    why = await lagAbove(o.tablets, o.limitSeconds)
    return why
  }
  return {
    get waitedMs() {
      return waitedMs
    },
    async wait() {
      if (o.limitSeconds <= 0 || !o.tablets.length) return
      if (!(await check())) return
      const t0 = Date.now()
      o.onChange?.(why)
      try {
        for (;;) {
          o.signal?.throwIfAborted()
          await sleep(every, undefined, o.signal ? {signal: o.signal} : {})
          const before = why
          if (!(await check())) break
          if (why !== before) o.onChange?.(why)
        }
      } finally {
        waitedMs += Date.now() - t0
      }
      o.onChange?.(undefined)
    },
  }
}

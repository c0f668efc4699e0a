// Replica-lag throttle (issue 15, item 5): what the application feels on the source while shardform clones it. Shard 0
// (primary src-100, replica src-101, rdonly src-102: the clone reads the rdonly's snapshot, the throttle watches the
// replica) is split into two primaries by `shardform apply` (the CLI) up to the gate after the clone, while an
// application writer inserts at a steady rate on the source primary. Twice, each on a fresh cluster: with the throttle
// off (throttleReplicaLagSeconds: 0) and with a low limit; before the first clone, the writer alone is the baseline.
// Every write's latency is recorded (send → answer), and the replica's Seconds_Behind_Master is read every 250 ms.
// The application also runs a batch job (one UPDATE of jobRows rows every 3 s): steady small writes alone never made
// the replica lag past 1 s on this 2-core machine (the shared CPU slows the primary as much as the replica, which
// applies rows more cheaply), while a large transaction lags a single-threaded replica by its own length.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import type {Connection} from 'mysql2/promise'
import type {TestCluster} from '../test/helpers/cluster.js'
import {loadSource} from './copy.js'
import {
  cli,
  layoutFile,
  phaseTiming,
  pidOf,
  planToFile,
  ROOT,
  withBenchCluster,
  taskLog,
  workflowOf,
} from './lib/cluster.js'
import {readChunks, rowKeys, writeRowsFile} from './lib/data.js'
import {emit, fmt, log, note, ratio} from './lib/out.js'
import {percentiles, type Percentiles} from './lib/probes.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'

export interface ThrottleOptions {
  rows: number
  /** Application writes per second on the source primary. */
  rate: number
  /** Rows per write (one multi-row INSERT, one transaction). */
  rowsPerWrite: number
  /** The throttled run's throttleReplicaLagSeconds. */
  limit: number
  /** Seconds of the writer alone (the baseline). */
  aloneSeconds: number
  /** Rows of the application's batch job (one UPDATE of consecutive loaded rows every JOB_EVERY_MS; 0: none). */
  jobRows: number
}

const JOB_EVERY_MS = 3000

const CONNECTIONS = 16

/** Writes on the source primary at a steady rate (CONNECTIONS connections); every write's send time and latency. */
class TimedWriter {
  private running = false
  private lanes: Promise<void>[] = []
  private conns: Connection[] = []
  readonly writes: Array<{at: number; ms: number}> = []
  readonly jobs: Array<{at: number; ms: number}> = []
  private job?: Promise<void>
  errors = 0
  late = 0

  constructor(
    private readonly c: TestCluster,
    private readonly o: ThrottleOptions,
  ) {}

  async start(): Promise<this> {
    for (let i = 0; i < CONNECTIONS; i++) this.conns.push(await this.c.connect('src-100'))
    this.running = true
    const t0 = Date.now()
    const every = 1000 / this.o.rate
    const n = this.o.rowsPerWrite
    const values = Array.from({length: n}, () => '(?, ?, ?)').join(', ')
    this.lanes = this.conns.map(async (conn, lane) => {
      for (let k = lane; this.running; k += this.conns.length) {
        const wait = t0 + k * every - Date.now()
        if (wait > 0) await sleep(wait)
        else if (wait < -1000) this.late++
        if (!this.running) break
        const at = Date.now()
        const params: unknown[] = []
        for (let i = 0; i < n; i++) params.push((3_000_000_000n + BigInt(k * n + i)).toString(), at, `app write ${k}`)
        try {
          await conn.query(`INSERT INTO messages (page, time_created_ns, message) VALUES ${values}`, params)
          this.writes.push({at, ms: Date.now() - at})
        } catch {
          this.errors++
        }
      }
    })
    if (this.o.jobRows) this.job = this.batchJob(await this.c.connect('src-100'))
    return this
  }

  /** The application's batch job: every JOB_EVERY_MS one UPDATE of jobRows consecutive loaded rows (one transaction). */
  private async batchJob(conn: Connection): Promise<void> {
    const stride = (1n << 64n) / BigInt(this.o.rows)
    try {
      for (let i = 0; this.running; i++) {
        const first = 1000n + ((BigInt(i) * BigInt(this.o.jobRows)) % BigInt(this.o.rows - this.o.jobRows - 1000))
        const t = Date.now()
        await conn.query('UPDATE messages SET message = ? WHERE page >= ? AND page < ?', [
          `batch job ${i}`,
          (first * stride).toString(),
          ((first + BigInt(this.o.jobRows)) * stride).toString(),
        ])
        this.jobs.push({at: t, ms: Date.now() - t})
        await sleep(Math.max(0, JOB_EVERY_MS - (Date.now() - t)))
      }
    } finally {
      await conn.end().catch(() => undefined)
    }
  }

  async stop(): Promise<void> {
    this.running = false
    await this.job
    await Promise.allSettled(this.lanes)
    for (const c of this.conns) await c.end().catch(() => undefined)
  }

  between(from: number, to: number): Percentiles & {perS: number} {
    const w = this.writes.filter((x) => x.at >= from && x.at <= to)
    return {...percentiles(w.map((x) => x.ms)), perS: (w.length * 1000) / Math.max(1, to - from)}
  }
}

/** The replica's Seconds_Behind_Master every 250 ms (null while its SQL thread does not run). */
class LagSampler {
  readonly samples: Array<{at: number; lag: number | null}> = []
  private running = false
  private loop?: Promise<void>

  constructor(private readonly conn: Connection) {}

  start(): this {
    this.running = true
    this.loop = (async () => {
      while (this.running) {
        const at = Date.now()
        try {
          const [rows] = (await this.conn.query('SHOW SLAVE STATUS')) as unknown as [
            Array<{Seconds_Behind_Master: unknown}>,
          ]
          const v = rows[0]?.Seconds_Behind_Master
          this.samples.push({at, lag: v === null || v === undefined ? null : Number(v)})
        } catch {
          // a missed sample
        }
        await sleep(Math.max(0, 250 - (Date.now() - at)))
      }
    })()
    return this
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }

  max(from: number, to: number): number {
    return Math.max(0, ...this.samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.lag ?? 0))
  }

  /** Share of the samples in [from, to] above `limit` seconds. */
  above(from: number, to: number, limit: number): number {
    const s = this.samples.filter((x) => x.at >= from && x.at <= to)
    return s.length ? s.filter((x) => (x.lag ?? 0) > limit).length / s.length : 0
  }

  /** Readings of 0 (or none) between two readings of at least 2 s: Seconds_Behind_Master drops to 0 while the SQL
   * thread waits for the next transaction to arrive, however far behind the replica is. */
  dips(from: number, to: number): number {
    const s = this.samples.filter((x) => x.at >= from && x.at <= to).map((x) => x.lag ?? 0)
    return s.filter((v, i) => i > 0 && i < s.length - 1 && v === 0 && s[i - 1]! >= 2 && s[i + 1]! >= 2).length
  }

  /** "0 0 1 3 …": the lag every `everyMs` over [from, to] (the highest sample of each step). */
  series(from: number, to: number, everyMs = 2000): string {
    const out: number[] = []
    for (let t = from; t < to; t += everyMs) out.push(this.max(t, Math.min(to, t + everyMs)))
    return out.join(' ')
  }
}

interface Run {
  limit: number
  cloneSeconds: number
  writes: Percentiles & {perS: number}
  maxLagS: number
  /** Share of the clone's lag samples above the throttled run's limit. */
  lagAboveShare: number
  lagSeries: string
  throttledSeconds: number
  throttleEvents: number
  events: string[]
  alone?: Percentiles & {perS: number; maxLagS: number}
  /** The batch job's UPDATEs during the clone: how many, and their median and longest time (ms). */
  jobs: {count: number; p50Ms: number; maxMs: number}
  errors: number
  late: number
  cpuText: string
  cores: Record<string, number>
}

function layouts(work: string, limit: number): string[] {
  const source = join(work, 'throttle-source.yaml')
  writeFileSync(
    source,
    readFileSync(layoutFile('source-replica.yaml'), 'utf8')
      .split('\n')
      .filter((l) => !l.includes('src-103'))
      .join('\n'),
  )
  const split = join(work, `throttle-split-${limit}.yaml`)
  writeFileSync(
    split,
    readFileSync(layoutFile('split.yaml'), 'utf8')
      .replace('../../plans/guestbook/vschema.json', join(ROOT, 'plans/guestbook/vschema.json'))
      .replace(
        /approvals:\n( {2}.*\n)+/,
        'approvals:\n  default: none\n  phases:\n    wait_for_filtered_replication: phase\n',
      )
      .replace(/^shards:/m, `settings:\n  throttleReplicaLagSeconds: ${limit}\nshards:`),
  )
  return [source, split]
}

function cloneOnce(work: string, rowsFile: string, o: ThrottleOptions, limit: number, alone: boolean): Promise<Run> {
  const label = `throttle ${limit ? `${limit} s` : 'off'}`
  return withBenchCluster(layouts(work, limit), async (c) => {
    const chunks = readChunks(rowsFile)
    await loadSource(c, 'src-100', ['src-101', 'src-102'], chunks, o.rows)
    chunks.length = 0
    const planFile = await planToFile(c, `throttle-${limit}`)
    const sampler = new ProcSampler(
      {
        'src-100 (primary)': pidOf(c, 'src-100'),
        'src-101 (replica)': pidOf(c, 'src-101'),
        'src-102 (rdonly)': pidOf(c, 'src-102'),
        'dst-200': pidOf(c, 'dst-200'),
        'dst-300': pidOf(c, 'dst-300'),
        'node (bench: writer)': process.pid,
      },
      200,
    ).start()
    const lagConn = await c.connect('src-101', 'admin')
    const lag = new LagSampler(lagConn).start()
    const writer = await new TimedWriter(c, o).start()
    let aloneStats: Run['alone']
    try {
      await sleep(1000)
      if (alone) {
        const a0 = Date.now()
        await sleep(o.aloneSeconds * 1000)
        const a1 = Date.now()
        aloneStats = {...writer.between(a0, a1), maxLagS: lag.max(a0, a1)}
        log(
          `${label}: writer alone ${fmt(aloneStats.perS)} writes/s, p50 ${aloneStats.p50Ms} ms, p99 ${aloneStats.p99Ms} ms, max ${aloneStats.maxMs} ms; replica lag at most ${aloneStats.maxLagS} s`,
        )
      }
      const run = cli(c, ['apply', planFile, '--no-wait', '--json'])
      sampler.add('node (apply)', run.pid)
      const {code} = await run.done
      if (code !== 3)
        throw new Error(
          `apply ${label} exited ${code} (expected 3, at the gate after the clone):\n${run.stderr.slice(-2000)}`,
        )
    } finally {
      await writer.stop()
      await lag.stop()
      await lagConn.end()
      sampler.stop()
    }
    const wf = await workflowOf(c.store)
    const clone = phaseTiming(wf, 'clone')
    const lines = clone.tasks.flatMap((t) => taskLog(wf, t.id))
    // When the throttle engaged, against the replica's lag every second (the clone's start is 0).
    const events = wf.events
      .filter((e) => e.type === 'log' && e.task?.startsWith('clone') && /^throttle/.test(e.message))
      .map((e) => `${((Date.parse(e.at) - clone.startedAt) / 1000).toFixed(1)} s ${e.message.split(';')[0]}`)
    for (const l of lines) log(`${label}: clone: ${l}`)
    if (events.length) log(`${label}: throttle events: ${events.join(' | ')}`)
    log(
      `${label}: replica lag every 1 s of the clone: ${lag.series(clone.startedAt, clone.finishedAt, 1000)}; readings of 0 between two of ≥ 2 s: ${lag.dips(clone.startedAt, clone.finishedAt)} of ${lag.samples.filter((x) => x.at >= clone.startedAt && x.at <= clone.finishedAt).length}`,
    )
    const throttledSeconds = lines
      .map((l) => /; throttled (\d+(?:\.\d+)?)s/.exec(l)?.[1])
      .reduce((s, v) => s + (v ? Number(v) : 0), 0)
    const split = sampler.cpuBetween(clone.startedAt, clone.finishedAt)
    const out: Run = {
      limit,
      cloneSeconds: clone.seconds,
      writes: writer.between(clone.startedAt, clone.finishedAt),
      maxLagS: lag.max(clone.startedAt, clone.finishedAt),
      lagAboveShare: lag.above(clone.startedAt, clone.finishedAt, o.limit),
      lagSeries: lag.series(clone.startedAt, clone.finishedAt),
      throttledSeconds,
      throttleEvents: lines.filter((l) => l.startsWith('throttled: ')).length,
      events,
      ...(aloneStats ? {alone: aloneStats} : {}),
      jobs: (({count, p50Ms, maxMs}) => ({count, p50Ms, maxMs}))(
        percentiles(writer.jobs.filter((j) => j.at >= clone.startedAt && j.at <= clone.finishedAt).map((j) => j.ms)),
      ),
      errors: writer.errors,
      late: writer.late,
      cpuText: describeCpu(split),
      cores: coresUsed(split),
    }
    log(
      `${label}: clone ${out.cloneSeconds.toFixed(1)} s (throttled ${throttledSeconds.toFixed(1)} s in ${out.throttleEvents} wait(s)); writes during it ${fmt(out.writes.perS)}/s, p50 ${out.writes.p50Ms} ms, p99 ${out.writes.p99Ms} ms, max ${out.writes.maxMs} ms; replica lag at most ${out.maxLagS} s, every 2 s: ${out.lagSeries}; ${writer.errors} failed writes, ${writer.late} late; CPU ${out.cpuText}`,
    )
    return out
  })
}

export async function throttleScenario(work: string, o: ThrottleOptions): Promise<void> {
  const file = join(work, 'throttle.rows')
  writeRowsFile(file, rowKeys(o.rows))
  const off = await cloneOnce(work, file, o, 0, true)
  const on = await cloneOnce(work, file, o, o.limit, false)
  const alone = off.alone!
  const load = `${o.rate} writes/s of ${o.rowsPerWrite} row(s) on ${CONNECTIONS} connections${o.jobRows ? ` and an UPDATE of ${fmt(o.jobRows)} rows every ${JOB_EVERY_MS / 1000} s` : ''}`
  emit({
    figure: 'throttle_app_write_p99_ms',
    value: on.writes.p99Ms,
    unit: 'ms',
    baseline: `the same clone unthrottled (throttleReplicaLagSeconds: 0); writer alone p99 ${alone.p99Ms} ms`,
    baseline_value: off.writes.p99Ms,
    ratio: ratio(on.writes.p99Ms, off.writes.p99Ms),
    detail: {rows: o.rows, load, limitSeconds: o.limit, throttled: on, unthrottled: off, alone},
  })
  emit({
    figure: 'throttle_replica_max_lag_s',
    value: on.maxLagS,
    unit: 's',
    baseline: `the same clone unthrottled; writer alone ${alone.maxLagS} s`,
    baseline_value: off.maxLagS,
    ratio: ratio(on.maxLagS, off.maxLagS),
    detail: {limitSeconds: o.limit, throttledSeries: on.lagSeries, unthrottledSeries: off.lagSeries},
  })
  emit({
    figure: 'throttle_clone_seconds',
    value: on.cloneSeconds,
    unit: 's',
    baseline: 'the same clone unthrottled',
    baseline_value: off.cloneSeconds,
    ratio: ratio(on.cloneSeconds, off.cloneSeconds),
    detail: {throttledSeconds: on.throttledSeconds, waits: on.throttleEvents},
  })
  note(
    'Throttle',
    `writer alone (${load}, before the clone, ${o.aloneSeconds} s): p50 ${alone.p50Ms} ms, p99 ${alone.p99Ms} ms, max ${alone.maxMs} ms; replica lag at most ${alone.maxLagS} s`,
    ...[off, on].map(
      (r) =>
        `clone of ${fmt(o.rows)} rows ${r.limit ? `throttled at ${r.limit} s` : 'unthrottled'}: ${r.cloneSeconds.toFixed(1)} s, waited ${r.throttledSeconds.toFixed(1)} s (${r.throttleEvents} wait(s)); application writes meanwhile ${fmt(r.writes.perS)}/s, p50 ${r.writes.p50Ms} ms, p99 ${r.writes.p99Ms} ms, max ${r.writes.maxMs} ms (${r.errors} failed); ${r.jobs.count} batch UPDATEs, p50 ${r.jobs.p50Ms} ms, max ${r.jobs.maxMs} ms; replica lag at most ${r.maxLagS} s, above ${o.limit} s in ${Math.round(r.lagAboveShare * 100)}% of samples, every 2 s: ${r.lagSeries}; CPU ${r.cpuText}`,
    ),
  )
}

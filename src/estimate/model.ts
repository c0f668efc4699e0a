// Pure estimate math: sampled keyspace ids → rows per destination, skew, durations. No I/O here.
import {keyRangeContains, parseShardName} from '../keyspace/keyrange.js'
import type {SizeEstimate} from '../plan/types.js'

/** Defaults from bench/RESULTS.md (2 cores): clone ~103k rows/s into the guestbook layout, diff ~250k rows/s,
 * a stream applying ~1.1k row changes/s at steady lag. */
export const DEFAULT_RATES = {copyRowsPerSec: 100_000, diffRowsPerSec: 250_000, applyRowsPerSec: 1_100}

export interface Rates {
  copyRowsPerSec: number
  diffRowsPerSec: number
  applyRowsPerSec: number
}

/** One table on one source shard: its size, and where sampled rows land (undefined: a reference table). */
export interface TableSample extends SizeEstimate {
  name: string
  /** Keyspace ids of sampled rows (empty for an empty table). */
  ids?: Buffer[]
}

export interface SourceSample {
  shard: string
  tables: TableSample[]
}

/** How many of `ids` fall into each destination shard (by key range). Ids outside every range count nowhere. */
export function countByShard(ids: Buffer[], destinations: string[]): Map<string, number> {
  const ranges = destinations.map((name) => ({name, kr: parseShardName(name)}))
  const counts = new Map(destinations.map((d) => [d, 0]))
  for (const id of ids) {
    const hit = ranges.find((r) => keyRangeContains(r.kr, id))
    if (hit) counts.set(hit.name, (counts.get(hit.name) ?? 0) + 1)
  }
  return counts
}

/**
 * Rows and bytes each destination receives from these sources: a sharded table splits in the proportions of its
 * sample; a reference table (no ids) is copied whole to every destination; an unsampled non-empty sharded table
 * (ids: []) splits evenly.
 */
export function predictDestinations(sources: SourceSample[], destinations: string[]): Map<string, SizeEstimate> {
  const out = new Map(destinations.map((d) => [d, {rows: 0, bytes: 0}]))
  for (const src of sources) {
    for (const t of src.tables) {
      let shares: Map<string, number>
      if (!t.ids) shares = new Map(destinations.map((d) => [d, 1]))
      else if (t.ids.length === 0) shares = new Map(destinations.map((d) => [d, 1 / destinations.length]))
      else {
        const counts = countByShard(t.ids, destinations)
        shares = new Map([...counts].map(([d, n]) => [d, n / t.ids!.length]))
      }
      for (const d of destinations) {
        const e = out.get(d)!
        const f = shares.get(d) ?? 0
        e.rows += t.rows * f
        e.bytes += t.bytes * f
      }
    }
  }
  for (const e of out.values()) {
    e.rows = Math.round(e.rows)
    e.bytes = Math.round(e.bytes)
  }
  return out
}

/** max / mean of the values (1 = perfectly even; 0 when there is nothing). */
export function skew(values: number[]): number {
  const total = values.reduce((s, v) => s + v, 0)
  if (!values.length || total === 0) return 0
  return Math.max(...values) / (total / values.length)
}

export interface DurationInput {
  /** Rows per source shard (clones run in parallel, one per source). */
  sourceRows: number[]
  /**
   * Predicted rows per reshard group (its destinations together): a group's diff tasks share one scan of its sources
   * (phases/diff-scan.ts), and `diffParallelism` scans run at once.
   */
  groupRows: number[]
  diffParallelism: number
  /** Row changes per second written to the sources while the copy runs. */
  writeRowsPerSec: number
  rates: Rates
}

/** Copy: the largest source at the copy rate. Catch-up: the writes made during the copy at the stream's apply
 * rate (null: a backlog that grows faster than it drains never catches up). Diff: bounded by the largest group's
 * scan and by the total over the parallel scans. */
export function estimateDurations(i: DurationInput): {
  copySeconds: number
  catchupSeconds: number | null
  diffSeconds: number
} {
  const copySeconds = Math.max(0, ...i.sourceRows) / i.rates.copyRowsPerSec
  const apply = i.rates.applyRowsPerSec
  const catchupSeconds =
    i.writeRowsPerSec <= 0
      ? 0
      : i.writeRowsPerSec >= apply
        ? null
        : (i.writeRowsPerSec * copySeconds) / (apply - i.writeRowsPerSec)
  const total = i.groupRows.reduce((s, v) => s + v, 0)
  const slots = Math.max(1, Math.min(i.diffParallelism, i.groupRows.length))
  const diffSeconds = Math.max(Math.max(0, ...i.groupRows), total / slots) / i.rates.diffRowsPerSec
  return {copySeconds, catchupSeconds, diffSeconds}
}

/** Every `step`-th index of `n` rows so that about `size` are taken (a deterministic, evenly spread sample). */
export function sampleStep(rows: number, size: number): number {
  return rows <= size ? 1 : Math.ceil(rows / size)
}

/** A duration for humans: < 0.1 s, 0.4 s, 12 s, 3 min 5 s, 2 h 10 min. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return 'never (writes outpace the stream)'
  if (seconds < 0.05) return '< 0.1 s'
  if (seconds < 10) return `${seconds.toFixed(1)} s`
  if (seconds < 60) return `${Math.round(seconds)} s`
  const m = Math.floor(seconds / 60)
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}

/** 1234567 → 1.2 MB (powers of 1024, one decimal). */
export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let v = n
  let u = 0
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024
    u++
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`
}

/** A task as the workflow record keeps it (only what the rates need). */
export interface FinishedTask {
  state: string
  started_at?: string
  finished_at?: string
  /** The same, as records stored camelCase spell them. */
  startedAt?: string
  finishedAt?: string
  output?: Record<string, unknown>
}

/** Below this many rows a task's rate is mostly its fixed costs (connections, snapshot): not a rate to plan with. */
export const MIN_ROWS_FOR_RATE = 10_000

/**
 * Copy and diff rates measured by a finished workflow: clone tasks record `output.rows` and their start and finish,
 * diff tasks `output.compared` and `output.seconds`. Rows over seconds summed across tasks; a kind with too few rows
 * is left out (the default applies).
 */
export function ratesFromWorkflow(tasks: Record<string, FinishedTask>): Partial<Rates> {
  const sum = {clone: {rows: 0, secs: 0}, diff: {rows: 0, secs: 0}}
  for (const [id, t] of Object.entries(tasks)) {
    if (t.state !== 'done' || !t.output) continue
    const started = t.started_at ?? t.startedAt
    const finished = t.finished_at ?? t.finishedAt
    if (id.startsWith('clone/') && typeof t.output.rows === 'number' && started && finished) {
      const secs = (Date.parse(finished) - Date.parse(started)) / 1000
      if (secs > 0) {
        sum.clone.rows += t.output.rows
        sum.clone.secs += secs
      }
    } else if (
      id.startsWith('diff/') &&
      typeof t.output.compared === 'number' &&
      typeof t.output.seconds === 'number'
    ) {
      if (t.output.seconds > 0) {
        // A task of a shared scan took the scan's time for its own destination's rows: its share of the time.
        const scan = t.output.scan as {destinations?: unknown[]} | undefined
        sum.diff.rows += t.output.compared
        sum.diff.secs += t.output.seconds / Math.max(1, scan?.destinations?.length ?? 1)
      }
    }
  }
  const out: Partial<Rates> = {}
  if (sum.clone.rows >= MIN_ROWS_FOR_RATE) out.copyRowsPerSec = Math.round(sum.clone.rows / sum.clone.secs)
  if (sum.diff.rows >= MIN_ROWS_FOR_RATE) out.diffRowsPerSec = Math.round(sum.diff.rows / sum.diff.secs)
  return out
}

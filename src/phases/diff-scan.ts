// One ordered scan of a group's sources for all the destinations whose diff tasks started together (a cohort,
// engine/cohorts.ts; joined in diff-cohort.ts). Per source: the streams into every participating destination are held,
// ONE snapshot is taken at or after the highest held position (diff-snapshot.ts), and every stream is paused exactly
// there. Per table: the sources are read once in key order (several sources of a merge merged by key), each row routed
// to its destination (reference tables: to every destination, from the first source) and merge-compared with that
// destination's own ordered read (diff-compare.ts). Each destination keeps its own outcome: differences, a lost
// destination or a stopped task fail or stop that task only; a source that cannot be read fails them all.
import type {Connection} from 'mysql2/promise'
import type {TaskContext, TaskResult} from '../engine/types.js'
import type {RowValue} from '../mysql/codec.js'
import {formatGtidPos, parseGtidPos, type GtidPos} from '../mysql/gtid.js'
import {keyComparator, formatKey, orderedSelect, RowCursor} from '../mysql/rows.js'
import {dataSession} from '../mysql/session.js'
import type {Snapshot, SnapshotReader} from '../mysql/snapshot.js'
import {copyColumns, describeSchema, type TableInfo} from '../mysql/tables.js'
import type {KeyspaceState} from '../plan/keyspace-state.js'
import type {ReshardGroup} from '../plan/types.js'
import {rdonlyFreezePath} from '../topo/paths.js'
import {isTopoError} from '../topo/store.js'
import {fmtRate, groupOf, keyspaceState, PhaseError, primaryOf, shardRange, tabletOf} from './context.js'
import {DestinationCompare, type TableReport} from './diff-compare.js'
import type {Member} from './diff-cohort.js'
import {diffSnapshot} from './diff-snapshot.js'
import {copyRouter, placement, type ShardRange} from './routing.js'
import type {Stream} from './streams/stream.js'
import {sourceThrottle, type SourceThrottle} from './throttle.js'

/** One diff task's part in a shared scan. */
export interface Participant {
  ctx: TaskContext
  /** The streams from every source of the group into this task's destination. */
  streams: Stream[]
  /** Remember in this task's checkpoint that an rdonly is stopped (or runs again). */
  noteFrozen(alias: string, stopped: boolean): Promise<void>
}

interface Dest {
  m: Member<Participant, TaskResult>
  ctx: TaskContext
  name: string
  /** Index among the group's destinations (what the router returns). */
  index: number
  dst?: Connection
  cmp?: DestinationCompare
  cursor?: RowCursor
  reports: TableReport[]
  compared: number
  /** Out of the scan (failed, stopped, or finished); its outcome is settled after the cleanup if not at once. */
  done: boolean
  outcome?: {ok: true; result: TaskResult} | {ok: false; error: unknown}
  settled: boolean
}

/**
 * Rows the destinations' cursors read ahead of the comparison, all together (each its share, at least
 * MIN_READ_AHEAD). A destination's rows are used at the scan's rate divided by the destinations: with a fixed
 * read-ahead each, a 1 → 8 scan held its rows 4× longer than a 1 → 2 one, long enough to outlive two scavenges, so
 * nearly all of them were promoted to the old generation (its heap grew by ~60 MB of garbage during the diff, and
 * scavenges copied 5× more). The rows not yet read wait in the socket, not in the heap.
 */
const DEST_READ_AHEAD = 2000
const MIN_READ_AHEAD = 100

// A scan reads whole source shards: bound the scans running in this process (settings.diffParallelism).
let running = 0
const queue: Array<() => void> = []
async function slot(limit: number): Promise<() => void> {
  while (running >= limit) await new Promise<void>((r) => queue.push(r))
  running++
  return () => {
    running--
    queue.shift()?.()
  }
}

/** The work of a cohort (CohortJoin): one scan for `members`; `missing` did not join in time. */
export async function sharedScan(members: Member<Participant, TaskResult>[], missing: string[]): Promise<void> {
  const limit = members[0]!.p.ctx.plan.desired.settings.diffParallelism
  if (running >= limit)
    for (const m of members)
      m.p.ctx.progress({message: `waiting for one of ${limit} diff scan slot(s) (diffParallelism)`})
  const release = await slot(limit)
  try {
    await new Scan(members).run(missing)
  } finally {
    release()
  }
}

/** The highest of several positions, per replication domain. */
export function highestPosition(positions: string[]): string {
  const out: GtidPos = new Map()
  for (const p of positions)
    for (const e of parseGtidPos(p).values()) if ((out.get(e.domain)?.seq ?? -1n) < e.seq) out.set(e.domain, e)
  return formatGtidPos(out)
}

class Scan {
  private readonly lead: TaskContext
  private readonly g: ReshardGroup
  private readonly dests: Dest[]
  private readonly groupDests: ShardRange[]
  /** Aborts when no destination is left in the scan. */
  private readonly gone = new AbortController()
  private snaps: Snapshot[] = []
  private readers: SnapshotReader[] = []

  constructor(members: Member<Participant, TaskResult>[]) {
    this.lead = members[0]!.p.ctx
    this.g = groupOf(this.lead)
    this.groupDests = this.g.destinations.map((d) => shardRange(this.lead, d))
    this.dests = [...members]
      .sort((a, b) => this.g.destinations.indexOf(a.p.ctx.task.shard) - this.g.destinations.indexOf(b.p.ctx.task.shard))
      .map((m) => ({
        m,
        ctx: m.p.ctx,
        name: m.p.ctx.task.shard,
        index: this.g.destinations.indexOf(m.p.ctx.task.shard),
        reports: [],
        compared: 0,
        done: false,
        settled: false,
      }))
    for (const d of this.dests) {
      if (d.m.signal.aborted) this.leave(d, d.m.signal.reason)
      else {
        const stop = () => this.leave(d, d.m.signal.reason)
        d.m.signal.addEventListener('abort', stop, {once: true})
        this.unlisten.push(() => d.m.signal.removeEventListener('abort', stop))
      }
    }
  }

  private readonly unlisten: Array<() => void> = []

  private live(): Dest[] {
    return this.dests.filter((d) => !d.done)
  }

  private logAll(message: string): void {
    for (const d of this.live()) d.ctx.log(message)
  }

  /**
   * `d` leaves the scan with `error`: its streams run again at once, and its task hears of it at once unless it was
   * the last one (then the scan stops, and the task hears after the cleanup: the rdonly runs again first).
   */
  private leave(d: Dest, error: unknown): void {
    if (d.done) return
    d.done = true
    d.outcome = {ok: false, error}
    for (const s of d.m.p.streams) s.unpause()
    if (this.live().length) {
      d.settled = true
      d.m.reject(error)
    } else this.gone.abort(error)
  }

  async run(missing: string[]): Promise<void> {
    try {
      if (missing.length)
        this.logAll(`the diff tasks of ${missing.join(', ')} did not join within the wait; they scan on their own`)
      const state = await keyspaceState(this.lead)
      await this.holdStreams(state)
      // The destinations this scan covers: those still in it once their streams are held.
      const names = this.live().map((d) => d.name)
      for (const d of this.live()) {
        const at = this.snaps.map((s, i) => `${this.g.sources[i]}@${s.gtid} (read on ${s.kind} ${s.tablet.alias})`)
        d.ctx.log(
          `streams into ${d.name} held at ${at.join(', ')}; one scan of ${this.g.sources.join(', ')} compares ${names.length} destination(s): ${names.join(', ')}`,
        )
      }
      this.readers = await Promise.all(this.snaps.map((s) => s.reader()))
      const throttle = await sourceThrottle(
        {...this.lead, signal: this.gone.signal, log: (m) => this.logAll(m)},
        this.g.sources,
        this.snaps.map((s) => s.tablet.alias),
      )
      // A throttled comparison may pause for minutes: the servers must not give up sending us rows meanwhile.
      for (const r of this.readers) await r.conn.query('SET SESSION net_write_timeout = 86400')
      const srcSchemas = await Promise.all(
        this.readers.map((r) => describeSchema(r.conn, this.lead.plan.desired.database)),
      )
      await this.openDestinations(state, srcSchemas[0]!.tables)
      const started = Date.now()
      for (const table of srcSchemas[0]!.tables) {
        if (!this.live().length) break
        await this.scanTable(table, started, throttle)
      }
      const secs = (Date.now() - started) / 1000
      for (const d of this.live()) this.conclude(d, secs, throttle.waitedMs, names)
    } finally {
      await this.cleanup()
    }
  }

  private async holdStreams(state: KeyspaceState): Promise<void> {
    const {lead} = this
    // Every task not yet told its outcome notes it (the scan concludes them before it restarts the rdonly); one that
    // left already may have its write refused.
    const noteFrozen = async (alias: string, stopped: boolean) => {
      await Promise.all(
        this.dests
          .filter((d) => !d.settled)
          .map((d) => d.m.p.noteFrozen(alias, stopped).catch((e: unknown) => (d.done ? undefined : this.leave(d, e)))),
      )
    }
    const freezeLock = async (alias: string) =>
      lead.store
        .hold(rdonlyFreezePath(alias), {operation: `diffs of workflow ${lead.workflowId} keep ${alias} stopped`})
        .catch((e: unknown) => {
          if (isTopoError(e, 'lock_held')) return undefined
          throw e
        })
    for (const source of this.g.sources) {
      const streamOf = (d: Dest) => d.m.p.streams.find((s) => s.spec.sourceShard === source)
      const held: string[] = []
      await Promise.all(
        this.live().map(async (d) => {
          const stream = streamOf(d)
          if (!stream)
            return this.leave(d, new PhaseError(`no filtered replication from ${source} into ${d.name} is running`))
          try {
            held.push(await stream.hold(d.m.signal))
          } catch (e) {
            this.leave(d, e)
          }
        }),
      )
      this.gone.signal.throwIfAborted()
      const snap = await diffSnapshot({
        rdonly: tabletOf(state, source, 'rdonly'),
        primary: primaryOf(state, source),
        held: highestPosition(held),
        signal: this.gone.signal,
        log: (m) => this.logAll(m),
        noteFrozen,
        freezeLock,
      })
      this.snaps.push(snap)
      await Promise.all(
        this.live().map((d) =>
          streamOf(d)!
            .pauseAt(snap.gtid, 300_000, d.m.signal)
            .catch((e: unknown) => this.leave(d, e)),
        ),
      )
      this.gone.signal.throwIfAborted()
    }
  }

  private async openDestinations(state: KeyspaceState, srcTables: TableInfo[]): Promise<void> {
    const db = this.lead.plan.desired.database
    await Promise.all(
      this.live().map(async (d) => {
        try {
          d.dst = await dataSession(primaryOf(state, d.name), 'read')
          await d.dst.query('SET SESSION net_write_timeout = 86400')
          const problems = compareSchemas(
            srcTables,
            (await describeSchema(d.dst, db)).tables,
            this.g.sources[0]!,
            d.name,
          )
          if (problems.length)
            throw new PhaseError(`schema of ${d.name} differs from ${this.g.sources[0]}: ${problems.join('; ')}`)
        } catch (e) {
          this.leave(d, e)
        }
      }),
    )
    this.gone.signal.throwIfAborted()
  }

  private async scanTable(table: TableInfo, started: number, throttle: SourceThrottle): Promise<void> {
    const {g, lead} = this
    const db = lead.plan.desired.database
    const p = placement(lead.plan.desired.vschema, table, this.groupDests)
    const router = copyRouter(p, table, this.groupDests)
    const width = copyColumns(table).length
    // Each source row carries its destination index after the selected columns (computed a batch at a time).
    const tag = width + router.extraSelect.length
    const keyIdx = table.primaryKey.map((k) => copyColumns(table).findIndex((c) => c.name === k))
    const cmp = keyComparator(table, keyIdx)
    const byIndex: Array<Dest | undefined> = []
    const readAhead = Math.max(MIN_READ_AHEAD, Math.round(DEST_READ_AHEAD / this.live().length))
    for (const d of this.live()) {
      d.cursor = new RowCursor(d.dst!, orderedSelect(db, table), [], undefined, readAhead)
      d.cmp = new DestinationCompare(table.name, cmp, width, (row) => formatKey(table, row, keyIdx), d.cursor)
      byIndex[d.index] = d
    }
    const routeRows = (rows: RowValue[][]) => {
      const r = router.routeMany(rows)
      for (let i = 0; i < rows.length; i++) rows[i]![tag] = r[i]!
      return r.map((x) => x !== -2)
    }
    // Reference tables come from the first source only.
    const fromSources = p.kind === 'everywhere' ? [0] : g.sources.map((_, i) => i)
    const srcs = fromSources.map(
      (i) => new RowCursor(this.readers[i]!.conn, orderedSelect(db, table, router.extraSelect), [], routeRows),
    )
    const feed = (d: Dest, s: RowValue[]): Promise<void> | undefined => {
      const r = d.cmp!.feed(s)
      return r ? r.catch((e: unknown) => this.leave(d, e)) : undefined
    }
    try {
      let everyone = this.live()
      // The throttle's lag check runs while the next chunk is compared; a chunk waits only when it said wait. (Its
      // error is held, not thrown, until awaited: the scan may end first.)
      let pausing: Promise<{error: unknown} | undefined> = Promise.resolve(undefined)
      const paused = async () => {
        const r = await pausing
        if (r) throw r.error
      }
      for (let n = 1; ; n++) {
        // Awaits only when a cursor must wait for rows: a promise per row costs more than the comparison.
        for (const c of srcs) if (!c.buffered) await c.ready()
        let best: RowCursor | undefined
        for (const c of srcs) {
          const r = c.peek()
          if (r && (!best || cmp(r, best.peek()!) < 0)) best = c
        }
        const s = best?.shift()
        if (!s) break
        const to = s[tag] as number
        // (`await` only on a promise: awaiting undefined would still cost a tick per row.)
        if (to === -1) {
          for (const d of everyone) {
            const w = d.done ? undefined : feed(d, s)
            if (w) await w
          }
        } else {
          const d = byIndex[to]
          const w = d && !d.done ? feed(d, s) : undefined
          if (w) await w
        }
        if ((n & 8191) === 0) {
          this.gone.signal.throwIfAborted()
          everyone = this.live()
          this.progress(started, throttle)
          await paused()
          pausing = throttle.wait().then(
            () => undefined,
            (error: unknown) => ({error}),
          )
        }
      }
      await paused()
      await Promise.all(
        this.live().map(async (d) => {
          try {
            const rep = await d.cmp!.finish()
            d.reports.push(rep)
            d.compared += rep.compared
          } catch (e) {
            this.leave(d, e)
          }
        }),
      )
    } finally {
      for (const c of srcs) c.close()
      for (const d of this.dests) d.cursor?.close()
    }
  }

  private progress(started: number, throttle: SourceThrottle): void {
    const secs = Math.max((Date.now() - started) / 1000, 0.001)
    for (const d of this.live()) {
      const done = d.compared + (d.cmp?.report.compared ?? 0)
      d.ctx.progress({
        done,
        unit: 'rows compared',
        rate: Math.round(done / secs),
        ...(throttle.why ? {message: `throttled: ${throttle.why}`} : {}),
      })
    }
  }

  private conclude(d: Dest, secs: number, waitedMs: number, names: string[]): void {
    d.done = true
    const rate = Math.round(d.compared / Math.max(secs, 0.001))
    d.ctx.progress({done: d.compared, unit: 'rows compared', rate})
    const bad = d.reports.filter((r) => r.missing || r.extra || r.different)
    if (bad.length) {
      const lines = bad.map(
        (r) =>
          `${r.table}: ${r.missing} missing, ${r.extra} extra, ${r.different} different (first: ${r.examples.join('; ')})`,
      )
      d.outcome = {
        ok: false,
        error: new PhaseError(
          `diff of ${d.name} against ${this.g.sources.join(', ')} found differences — ${lines.join(' | ')}. Nothing was migrated. Investigate, then retry: shardform retry ${d.ctx.keyspace} ${d.ctx.task.id}`,
        ),
      }
      return
    }
    const waited = waitedMs ? `; throttled ${(waitedMs / 1000).toFixed(1)}s` : ''
    d.ctx.log(
      `${d.compared} row(s) in ${d.reports.length} table(s) of ${d.name} match ${this.g.sources.join(', ')} (${fmtRate(rate)} rows/s${names.length > 1 ? `, in one scan with ${names.filter((x) => x !== d.name).join(', ')}` : ''})${waited}`,
    )
    const tables = d.reports.map(({table, compared}) => ({table, compared}))
    d.outcome = {ok: true, result: {output: {compared: d.compared, tables, seconds: secs, scan: {destinations: names}}}}
  }

  private async cleanup(): Promise<void> {
    for (const u of this.unlisten) u()
    for (const d of this.dests) for (const s of d.m.p.streams) s.unpause()
    await Promise.all(this.readers.map((r) => r.close().catch(() => undefined)))
    await Promise.all(this.snaps.map((s) => s.release().catch(() => undefined)))
    // A destination left in the middle of a table still has rows coming: drop its connection rather than wait.
    await Promise.all(
      this.dests.map((d) => (d.outcome?.ok === false ? d.dst?.destroy() : d.dst?.end().catch(() => undefined))),
    )
    for (const d of this.dests) {
      if (d.settled || !d.outcome) continue
      d.settled = true
      if (d.outcome.ok) d.m.resolve(d.outcome.result)
      else d.m.reject(d.outcome.error)
    }
  }
}

function compareSchemas(src: TableInfo[], dst: TableInfo[], srcName: string, dstName: string): string[] {
  const out: string[] = []
  for (const t of src) {
    const d = dst.find((x) => x.name === t.name)
    if (!d) out.push(`table ${t.name} is missing on ${dstName}`)
    else if (d.create !== t.create) out.push(`table ${t.name} is defined differently on ${dstName} than on ${srcName}`)
  }
  for (const d of dst) if (!src.some((t) => t.name === d.name)) out.push(`table ${d.name} exists only on ${dstName}`)
  return out
}

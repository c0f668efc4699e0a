// diff/<dest>: schema, then every row. Each source of the group is read at a position P (on its rdonly, stopped there,
// else in a consistent snapshot on its primary: diff-snapshot.ts) while the stream from it into this destination is
// held exactly at P; the destination is then read as well, both in primary-key order, the sources restricted to the
// destination's key range. Any difference fails the task.
import type {Connection} from 'mysql2/promise'
import type {Executor, TaskContext} from '../engine/types.js'
import type {RowValue} from '../mysql/codec.js'
import {dataSession} from '../mysql/session.js'
import type {Snapshot, SnapshotReader} from '../mysql/snapshot.js'
import {formatKey, keyComparator, orderedSelect, RowCursor, rowsEqual} from '../mysql/rows.js'
import {copyColumns, describeSchema, type TableInfo} from '../mysql/tables.js'
import {fmtRate, groupOf, keyspaceState, PhaseError, primaryOf, shardRange, tabletOf} from './context.js'
import {sourceThrottle} from './throttle.js'
import {rdonlyFreezePath} from '../topo/paths.js'
import {isTopoError} from '../topo/store.js'
import {diffSnapshot, restartIfFrozen} from './diff-snapshot.js'
import {copyRouter, placement} from './routing.js'
import type {StreamManager} from './streams/manager.js'

const SHOWN = 10

interface TableReport {
  table: string
  compared: number
  missing: number
  extra: number
  different: number
  examples: string[]
}

// diff tasks may run in parallel, but each one reads whole shards: bound them (settings.diffParallelism).
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

export const diff: Executor = async (ctx) => {
  const release = await slot(ctx.plan.desired.settings.diffParallelism)
  try {
    return await diffDestination(ctx)
  } finally {
    release()
  }
}

async function diffDestination(ctx: TaskContext) {
  const g = groupOf(ctx)
  const gi = ctx.task.group!
  const manager = ctx.services as StreamManager
  const db = ctx.plan.desired.database
  const dest = shardRange(ctx, ctx.task.shard)
  const groupDests = g.destinations.map((d) => shardRange(ctx, d))
  const state = await keyspaceState(ctx)
  const streams = await manager.ensureInto(gi, ctx.task.shard)
  // rdonly tablets an interrupted run of this task left with replication stopped (diff-snapshot.ts).
  const cp: {stopped: string[]} = {stopped: ctx.checkpoint<{stopped?: string[]}>()?.stopped ?? []}
  for (const alias of cp.stopped) {
    const t = state.tablets.find((x) => x.alias === alias)
    if (t) await restartIfFrozen(t, ctx.log)
  }
  const noteFrozen = async (alias: string, stopped: boolean) => {
    cp.stopped = [...cp.stopped.filter((a) => a !== alias), ...(stopped ? [alias] : [])]
    await ctx.saveCheckpoint(cp)
  }
  const freezeLock = async (alias: string) =>
    ctx.store
      .hold(rdonlyFreezePath(alias), {operation: `diffs of workflow ${ctx.workflowId} keep ${alias} stopped`})
      .catch((e: unknown) => {
        if (isTopoError(e, 'lock_held')) return undefined
        throw e
      })
  const snaps: Snapshot[] = []
  const readers: SnapshotReader[] = []
  const dst = await dataSession(primaryOf(state, ctx.task.shard), 'read')
  const started = Date.now()
  try {
    for (const source of g.sources) {
      const stream = streams.find((s) => s.spec.sourceShard === source)
      if (!stream) throw new PhaseError(`no filtered replication from ${source} into ${ctx.task.shard} is running`)
      const held = await stream.hold(ctx.signal)
      const rdonly = tabletOf(state, source, 'rdonly')
      const primary = primaryOf(state, source)
      snaps.push(await diffSnapshot({rdonly, primary, held, signal: ctx.signal, log: ctx.log, noteFrozen, freezeLock}))
      await stream.pauseAt(snaps[snaps.length - 1].gtid, 300_000, ctx.signal)
    }
    ctx.log(
      `streams into ${ctx.task.shard} held at ${snaps.map((s, i) => `${g.sources[i]}@${s.gtid} (read on ${s.kind} ${s.tablet.alias})`).join(', ')}; comparing`,
    )
    readers.push(...(await Promise.all(snaps.map((s) => s.reader()))))
    const throttle = await sourceThrottle(
      ctx,
      g.sources,
      snaps.map((s) => s.tablet.alias),
    )
    // A throttled comparison may pause for minutes: the servers must not give up sending us rows meanwhile.
    for (const c of [...readers.map((r) => r.conn), dst]) await c.query('SET SESSION net_write_timeout = 86400')
    const srcSchemas = await Promise.all(readers.map((r) => describeSchema(r.conn, db)))
    const dstSchema = await describeSchema(dst, db)
    const schemaProblems = compareSchemas(srcSchemas[0].tables, dstSchema.tables, g.sources[0], ctx.task.shard)
    if (schemaProblems.length)
      throw new PhaseError(`schema of ${ctx.task.shard} differs from ${g.sources[0]}: ${schemaProblems.join('; ')}`)

    const reports: TableReport[] = []
    let compared = 0
    for (const table of srcSchemas[0].tables) {
      const p = placement(ctx.plan.desired.vschema, table, groupDests)
      const router = copyRouter(p, table, groupDests)
      const destIndex = g.destinations.indexOf(ctx.task.shard)
      const keep = (rows: RowValue[][]) => router.routeMany(rows).map((r) => r === -1 || r === destIndex)
      // Reference tables come from the first source only.
      const fromSources = p.kind === 'everywhere' ? [0] : g.sources.map((_, i) => i)
      const rep = await compareTable(
        ctx,
        db,
        table,
        fromSources.map((i) => readers[i].conn),
        dst,
        router.extraSelect,
        keep,
        async (n) => {
          const secs = (Date.now() - started) / 1000
          ctx.progress({
            done: compared + n,
            unit: 'rows compared',
            rate: Math.round((compared + n) / Math.max(secs, 0.001)),
            ...(throttle.why ? {message: `throttled: ${throttle.why}`} : {}),
          })
          await throttle.wait()
        },
      )
      compared += rep.compared
      reports.push(rep)
    }
    const secs = (Date.now() - started) / 1000
    const bad = reports.filter((r) => r.missing || r.extra || r.different)
    ctx.progress({done: compared, unit: 'rows compared', rate: Math.round(compared / Math.max(secs, 0.001))})
    if (bad.length) {
      const lines = bad.map(
        (r) =>
          `${r.table}: ${r.missing} missing, ${r.extra} extra, ${r.different} different (first: ${r.examples.join('; ')})`,
      )
      throw new PhaseError(
        `diff of ${ctx.task.shard} against ${g.sources.join(', ')} found differences — ${lines.join(' | ')}. Nothing was migrated. Investigate, then retry: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
      )
    }
    const waited = throttle.waitedMs ? `; throttled ${(throttle.waitedMs / 1000).toFixed(1)}s` : ''
    ctx.log(
      `${compared} row(s) in ${reports.length} table(s) of ${dest.name} match ${g.sources.join(', ')} (${fmtRate(compared / Math.max(secs, 0.001))} rows/s)${waited}`,
    )
    return {output: {compared, tables: reports.map(({table, compared: n}) => ({table, compared: n})), seconds: secs}}
  } finally {
    for (const s of streams) s.unpause()
    await Promise.all(readers.map((r) => r.close().catch(() => undefined)))
    await Promise.all(snaps.map((s) => s.release().catch(() => undefined)))
    await dst.end().catch(() => undefined)
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

/** Merge-compare the (filtered, merged) source rows with the destination rows, both in key order. */
async function compareTable(
  ctx: TaskContext,
  db: string,
  table: TableInfo,
  sources: Connection[],
  dst: Connection,
  extra: string[],
  keep: (rows: RowValue[][]) => boolean[],
  /** Every few thousand rows; the comparison waits for it (the throttle). */
  onProgress: (n: number) => Promise<void>,
): Promise<TableReport> {
  const cols = copyColumns(table)
  const n = cols.length
  const keyIdx = table.primaryKey.map((k) => cols.findIndex((c) => c.name === k))
  const cmp = keyComparator(table, keyIdx)
  const srcCursors = sources.map((c) => new RowCursor(c, orderedSelect(db, table, extra), [], keep))
  const dstCursor = new RowCursor(dst, orderedSelect(db, table))
  const rep: TableReport = {table: table.name, compared: 0, missing: 0, extra: 0, different: 0, examples: []}
  const note = (what: string, row: RowValue[]) => {
    if (rep.examples.length < SHOWN) rep.examples.push(`${what} ${formatKey(table, row, keyIdx)}`)
  }
  // The next source row in this destination's key range (the cursors filter), smallest key first across sources.
  // Awaits only when a cursor must wait for rows: a promise per row costs more than the comparison.
  const nextSource = async (): Promise<RowValue[] | undefined> => {
    for (const c of srcCursors) if (!c.buffered) await c.ready()
    return pickSource()
  }
  const pickSource = (): RowValue[] | undefined => {
    let best: RowCursor | undefined
    for (const c of srcCursors) {
      const r = c.peek()
      if (r && (!best || cmp(r, best.peek()!) < 0)) best = c
    }
    return best?.shift()
  }
  try {
    let s = await nextSource()
    await dstCursor.ready()
    let d = dstCursor.shift()
    while (s || d) {
      ctx.signal.throwIfAborted()
      const c = !s ? 1 : !d ? -1 : cmp(s, d)
      if (c === 0) {
        if (!rowsEqual(s!, d!, n)) {
          rep.different++
          note('different', s!)
        }
        s = srcCursors.every((x) => x.buffered) ? pickSource() : await nextSource()
        if (!dstCursor.buffered) await dstCursor.ready()
        d = dstCursor.shift()
      } else if (c < 0) {
        rep.missing++
        note('missing', s!)
        s = srcCursors.every((x) => x.buffered) ? pickSource() : await nextSource()
      } else {
        rep.extra++
        note('extra', d!)
        if (!dstCursor.buffered) await dstCursor.ready()
        d = dstCursor.shift()
      }
      if ((++rep.compared & 8191) === 0) await onProgress(rep.compared)
    }
  } finally {
    for (const c of [...srcCursors, dstCursor]) c.close()
  }
  return rep
}

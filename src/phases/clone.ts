// clone/<source>: copy every table of a source shard from a consistent snapshot into the group's destinations,
// then start filtered replication from the snapshot's position. Resumable per table (and within a table while an
// rdonly snapshot is still frozen); otherwise a restart removes what the interrupted copy wrote and begins again.
import type {Connection} from 'mysql2/promise'
import {keyRangeContains} from '../keyspace/keyrange.js'
import {tableRouting, type VSchema} from '../keyspace/vschema.js'
import type {TaskContext, TaskResult, Executor} from '../engine/types.js'
import type {RowValue} from '../mysql/codec.js'
import {connectTablet, qid, withoutTabletPrefix} from '../mysql/connect.js'
import {copyTable, type CopyDestination, type CopyTableOptions} from '../mysql/copy.js'
import {copyOwner, fenced, takeCopy} from './copy-fence.js'
import {dataSession} from '../mysql/session.js'
import {frozenPosition, primarySnapshot, rdonlySnapshot, type Snapshot} from '../mysql/snapshot.js'
import {describeSchema, type TableInfo} from '../mysql/tables.js'
import type {TabletRecord} from '../topo/records.js'
import {fmtRate, groupOf, keyspaceState, PhaseError, primaryOf, shardRange, streamId, tabletOf} from './context.js'
import {copyRouter, placement, type ShardRange} from './routing.js'
import {sourceThrottle} from './throttle.js'
import {ensureStateTables, writeStreamStart} from './streams/state.js'
import type {StreamManager} from './streams/manager.js'

interface TableProgress {
  done: boolean
  rows: number
  lastPk?: unknown[]
}

interface CloneCheckpoint {
  snapshot?: {kind: 'rdonly' | 'primary'; tablet: string; gtid: string}
  tables: Record<string, TableProgress>
  streamsStarted?: boolean
}

// Primary key values survive the JSON checkpoint: Buffers as {b64}.
const encodePk = (pk: RowValue[] | undefined) => pk?.map((v) => (Buffer.isBuffer(v) ? {b64: v.toString('base64')} : v))
const decodePk = (pk: unknown[] | undefined) =>
  pk?.map((v) => (v && typeof v === 'object' && 'b64' in v ? Buffer.from((v as {b64: string}).b64, 'base64') : v)) as
    RowValue[] | undefined

export const clone: Executor = async (ctx) => {
  const r = await cloneCopy(ctx)
  await (ctx.services as StreamManager).ensureGroup(ctx.task.group!, [ctx.task.shard])
  return r
}

/**
 * The copy and the streams' start positions, without starting the streams: what a server other than the workflow's
 * driver runs when it claims the task (its driver starts the streams). `ctx.services` may be absent there.
 */
export const cloneCopy = async (ctx: TaskContext): Promise<TaskResult> => {
  const source = ctx.task.shard
  const group = groupOf(ctx)
  const manager = ctx.services as StreamManager | undefined
  const state = await keyspaceState(ctx)
  const dests = group.destinations.map((d) => shardRange(ctx, d))
  const destTablets = group.destinations.map((d) => primaryOf(state, d))
  const firstSource = group.sources[0] === source
  let cp: CloneCheckpoint = ctx.checkpoint<CloneCheckpoint>() ?? {tables: {}}

  if (!cp.streamsStarted) {
    // This run owns the copy on every destination before it removes or writes a row (copy-fence.ts).
    const copyId = `${ctx.keyspace}/${ctx.task.id}`
    const owner = copyOwner(ctx.task.id)
    for (const t of destTablets) {
      const conn = await dataSession(t, 'apply')
      try {
        await ensureStateTables(conn)
        await takeCopy(conn, copyId, owner)
      } finally {
        await conn.end()
      }
    }
    const fence = (dest: CopyDestination, write: () => Promise<void>) =>
      fenced(dest.conn, copyId, owner, dest.alias, write)
    let snap = await resumeSnapshot(ctx, cp, state.tablets)
    if (!snap) {
      if (cp.snapshot) {
        ctx.log(`the snapshot of the interrupted copy is gone; removing the rows it wrote and copying ${source} again`)
        await Promise.all((manager?.from(source) ?? []).map((s) => s.stop()))
        await purgeSource(ctx, destTablets, source)
      }
      const rdonly = tabletOf(state, source, 'rdonly')
      snap = rdonly ? await rdonlySnapshot(rdonly).catch((err) => fallback(ctx, err, rdonly)) : undefined
      snap ??= await primarySnapshot(primaryOf(state, source))
      cp = {snapshot: {kind: snap.kind, tablet: snap.tablet.alias, gtid: snap.gtid}, tables: {}}
      await ctx.saveCheckpoint(cp)
      ctx.log(`snapshot of ${source} on ${snap.kind} ${snap.tablet.alias} at GTID ${snap.gtid || '(empty)'}`)
    } else {
      ctx.log(`continuing the copy from the snapshot at GTID ${snap.gtid} on ${snap.tablet.alias}`)
    }
    try {
      await copyAll(ctx, snap, cp, dests, destTablets, firstSource, fence).catch((err) => snapshotLost(ctx, snap!, err))
      for (const t of destTablets) {
        const conn = await dataSession(t, 'apply')
        try {
          const id = streamId(ctx.keyspace, source, group.destinations[destTablets.indexOf(t)])
          await fence({conn, alias: t.alias}, () => writeStreamStart(conn, id, ctx.workflowId, source, snap!.gtid))
        } finally {
          await conn.end()
        }
      }
      cp.streamsStarted = true
      await ctx.saveCheckpoint(cp)
    } finally {
      // A run that was taken over (paused past its claim's lease) leaves the rdonly stopped: the run that took over
      // continues from that very snapshot and starts its replication again when done.
      if (snap.kind === 'rdonly' && (await ctx.superseded?.().catch(() => false)))
        ctx.log(
          `this run was taken over; leaving ${snap.tablet.alias} stopped at ${snap.gtid} for the run that took it`,
        )
      else
        await snap
          .release()
          .catch((err) => ctx.log(`could not restart replication on ${snap!.tablet.alias}: ${(err as Error).message}`))
    }
  }
  const rows = Object.values(cp.tables).reduce((n, t) => n + t.rows, 0)
  return {
    output: {
      gtid: cp.snapshot!.gtid,
      snapshot: cp.snapshot,
      rows,
      streams: group.destinations.map((d) => streamId(ctx.keyspace, source, d)),
    },
  }
}

/**
 * A copy that failed because the tablet holding its snapshot went away (crashed, stopped): name it and say what to
 * do. Whatever error surfaced first (a reader's, or a destination's meanwhile), the lost snapshot is what matters.
 */
async function snapshotLost(ctx: TaskContext, snap: Snapshot, err: unknown): Promise<never> {
  if (ctx.signal.aborted) throw err
  const t = snap.tablet
  const probe = await connectTablet(t, 'admin').then(
    (c) => c.end().then(() => undefined),
    (e: unknown) => e as Error,
  )
  if (!probe) throw err
  const instead =
    snap.kind === 'rdonly' ? `; while ${t.alias} is down, the retry takes the snapshot on the primary` : ''
  // The runner adds the retry command to the task's error.
  throw new PhaseError(
    `the clone of ${ctx.task.shard} lost its snapshot on ${snap.kind} ${t.alias} (${t.host}:${t.port}): ${withoutTabletPrefix((err as Error).message)}. Nothing was migrated. Start ${t.alias} again (shardform local up <layouts> restarts the stopped tablets of a local cluster), then retry: the copy starts over from a new snapshot${instead}.`,
  )
}

function fallback(ctx: TaskContext, err: unknown, rdonly: TabletRecord): undefined {
  ctx.log(
    `rdonly ${rdonly.alias} cannot serve the snapshot (${(err as Error).message}); using a consistent-snapshot transaction on the primary`,
  )
  return undefined
}

/** The checkpoint's snapshot, if it can still be read exactly as it was (an rdonly tablet still stopped there). */
async function resumeSnapshot(
  ctx: TaskContext,
  cp: CloneCheckpoint,
  tablets: TabletRecord[],
): Promise<Snapshot | undefined> {
  if (!cp.snapshot || cp.snapshot.kind !== 'rdonly') return undefined
  const t = tablets.find((x) => x.alias === cp.snapshot!.tablet)
  if (!t) return undefined
  const at = await frozenPosition(t).catch(() => undefined)
  return at === cp.snapshot.gtid ? rdonlySnapshot(t, at) : undefined
}

async function copyAll(
  ctx: TaskContext,
  snap: Snapshot,
  cp: CloneCheckpoint,
  dests: ShardRange[],
  destTablets: TabletRecord[],
  firstSource: boolean,
  fence: CopyTableOptions['fence'],
): Promise<void> {
  const db = ctx.plan.desired.database
  const first = await snap.reader()
  let tables: TableInfo[]
  let estimate = 0
  try {
    tables = (await describeSchema(first.conn, db)).tables
    const [rows] = (await first.conn.query(
      'SELECT TABLE_NAME AS t, TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?',
      [db],
    )) as unknown as [Array<{t: Buffer | string; n: number | string | null}>]
    estimate = rows.reduce((s, r) => s + Number(r.n ?? 0), 0)
  } finally {
    if (snap.maxReaders > 1) await first.close()
  }
  const work = tables.filter((t) => {
    if (cp.tables[t.name]?.done) return false
    const p = placement(ctx.plan.desired.vschema, t, dests)
    return p.kind !== 'everywhere' || firstSource
  })
  for (const t of tables) {
    if (!t.primaryKey.length)
      throw new PhaseError(
        `table ${db}.${t.name} has no primary key; shardform needs one to copy, replicate and compare rows. Add one and retry: shardform retry ${ctx.keyspace} ${ctx.task.id}`,
      )
  }
  const throttle = await sourceThrottle(ctx, [ctx.task.shard], [snap.tablet.alias])
  const started = Date.now()
  let baseRows = Object.values(cp.tables).reduce((n, t) => n + t.rows, 0)
  const initialRows = baseRows
  const live = new Map<string, number>()
  const report = () => {
    const copied = baseRows + [...live.values()].reduce((a, b) => a + b, 0)
    const secs = (Date.now() - started) / 1000
    const rate = secs > 0 ? (copied - initialRows) / secs : 0
    const total = Math.max(estimate, copied)
    ctx.progress({
      done: copied,
      total,
      unit: 'rows',
      rate: Math.round(rate),
      etaSeconds: rate > 0 ? Math.round((total - copied) / rate) : undefined,
      ...(throttle.why ? {message: `throttled: ${throttle.why}`} : {}),
    })
  }
  const timer = setInterval(report, 1000)
  timer.unref()
  let save = Promise.resolve()
  const queue = [...work]
  const worker = async (reader: {conn: Connection; close(): Promise<void>}) => {
    const conns: CopyDestination[] = []
    try {
      for (const t of destTablets) conns.push({conn: await dataSession(t, 'copy'), alias: t.alias})
      for (let t = queue.shift(); t; t = queue.shift()) {
        const table = t
        const prev = cp.tables[table.name]
        const p = placement(ctx.plan.desired.vschema, table, dests)
        const router = copyRouter(p, table, dests)
        const res = await copyTable({
          source: reader.conn,
          sourceAlias: snap.tablet.alias,
          database: db,
          table,
          destinations: conns,
          routeMany: router.routeMany,
          routeColumns: router.columns,
          extraSelect: router.extraSelect,
          after: decodePk(prev?.lastPk),
          signal: ctx.signal,
          throttle: () => throttle.wait(),
          fence,
          onRows: (n) => live.set(table.name, n),
          onSync: async (pr) => {
            cp.tables[table.name] = {done: false, rows: (prev?.rows ?? 0) + pr.rows, lastPk: encodePk(pr.lastPk)}
            save = save.then(() => ctx.saveCheckpoint(cp))
            await save
          },
        })
        live.delete(table.name)
        cp.tables[table.name] = {done: true, rows: (prev?.rows ?? 0) + res.rows}
        baseRows += res.rows
        if (res.skipped)
          ctx.log(
            `${res.skipped} row(s) of ${table.name} on ${ctx.task.shard} lie outside every destination's key range and were not copied`,
          )
        save = save.then(() => ctx.saveCheckpoint(cp))
        await save
      }
    } finally {
      await Promise.all(conns.map((c) => c.conn.end().catch(() => undefined)))
      await reader.close()
    }
  }
  try {
    const n = Math.min(snap.maxReaders, 2, Math.max(1, work.length))
    const readers = snap.maxReaders > 1 ? await Promise.all(Array.from({length: n}, () => snap.reader())) : [first]
    await Promise.all(readers.map(worker))
  } finally {
    clearInterval(timer)
  }
  report()
  const secs = (Date.now() - started) / 1000
  const rows = Object.values(cp.tables).reduce((s, t) => s + t.rows, 0)
  const waited = throttle.waitedMs ? `; throttled ${(throttle.waitedMs / 1000).toFixed(1)}s` : ''
  ctx.log(
    `copied ${rows} row(s) of ${work.length} table(s) from ${ctx.task.shard} in ${secs.toFixed(1)}s (${fmtRate(rows / Math.max(secs, 0.001))} rows/s)${waited}`,
  )
}

/** Remove from the destinations every row that came from `source` (an interrupted copy that cannot continue). */
async function purgeSource(ctx: TaskContext, destTablets: TabletRecord[], source: string): Promise<void> {
  const db = ctx.plan.desired.database
  const group = groupOf(ctx)
  const srcRange = shardRange(ctx, source)
  // The vschema that placed the rows on the sources (a merge may also change the vindex); an unsharded one has a
  // single source, whose rows are all of them.
  const vschema: VSchema = ctx.plan.current.vschema.sharded ? ctx.plan.current.vschema : ctx.plan.desired.vschema
  for (const t of destTablets) {
    const conn = await dataSession(t, 'read')
    try {
      for (const table of (await describeSchema(conn, db)).tables) {
        const routing = vschema.sharded ? tableRouting(vschema, table.name) : {kind: 'reference' as const}
        if (routing.kind === 'reference' || group.sources.length === 1) {
          if (routing.kind !== 'reference' || group.sources[0] === source)
            await conn.query(`TRUNCATE TABLE ${qid(db)}.${qid(table.name)}`)
          continue
        }
        // A merge: only the rows in this source's key range came from it.
        const pk = table.primaryKey.map(qid).join(', ')
        const [rows] = (await conn.query({
          sql: `SELECT ${pk}, ${qid(routing.vindex.column)} FROM ${qid(db)}.${qid(table.name)}`,
          rowsAsArray: true,
        })) as unknown as [unknown[][]]
        const doomed = rows.filter((r) => keyRangeContains(srcRange.kr, routing.vindex.fn(r[r.length - 1] as never)))
        for (let i = 0; i < doomed.length; i += 1000) {
          const chunk = doomed.slice(i, i + 1000)
          const where = chunk
            .map((r) => `(${table.primaryKey.map((k, j) => `${qid(k)} = ${conn.escape(r[j])}`).join(' AND ')})`)
            .join(' OR ')
          await conn.query(`DELETE FROM ${qid(db)}.${qid(table.name)} WHERE ${where}`)
        }
      }
    } finally {
      await conn.end()
    }
  }
}

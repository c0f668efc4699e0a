// 2. Catch-up: a backlog of row changes written on the source while no stream runs (apply stopped at the gate after
// the clone), then applied by filtered replication when apply resumes; in the same run, two native MariaDB replicas of
// the same source, stopped during the same backlog, apply it after START SLAVE: one single-threaded (MariaDB's
// default), one with slave_parallel_threads = the number of destinations (slave_parallel_mode optimistic). Every one
// is timed from its start command (`shardform apply`, START SLAVE) until it has applied the source's final GTID.
import type {Connection} from 'mysql2/promise'
import {approveWorkflow} from '../src/engine/commands.js'
import {behind, formatGtidPos, parseGtidPos, reached} from '../src/mysql/gtid.js'
import type {TestCluster} from '../test/helpers/cluster.js'
import {writeBacklog, type BacklogResult} from './lib/backlog.js'
import {
  cli,
  globalStatus,
  gtidBinlogPos,
  KEYSPACE,
  one,
  pidOf,
  session,
  text,
  waitGtid,
  type CliRun,
} from './lib/cluster.js'
import type {RowKeys} from './lib/data.js'
import {streamRows} from './lib/lag.js'
import {fmt, log} from './lib/out.js'
import {BusySampler, pct} from './lib/busy.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'
import type {Rate} from './copy.js'

export interface CatchupResult {
  backlog: BacklogResult
  stream: Rate
  native: Rate
  /** The native replica with slave_parallel_threads = destinations. */
  parallel: Rate
  /** The apply started to resume the workflow: still running, waiting at the diff gate with its streams. */
  apply: CliRun
}

interface Pages {
  read: number
  flushed: number
}

/**
 * InnoDB pages read from disk and flushed to it so far, summed over `conns`: what applying changes costs once a table
 * outgrows the buffer pool (random keys touch a page each), on the destinations and the native replicas alike.
 */
async function innodbPages(conns: Connection[]): Promise<Pages> {
  const out = {read: 0, flushed: 0}
  for (const conn of conns) {
    const st = await globalStatus(conn, /^Innodb_buffer_pool_(reads|pages_flushed)$/)
    out.read += st.Innodb_buffer_pool_reads ?? 0
    out.flushed += st.Innodb_buffer_pool_pages_flushed ?? 0
  }
  return out
}

/** Pages read and flushed between two readings, as text and as pages flushed per 1000 row changes. */
function pagesBetween(before: Pages, after: Pages, rowChanges: number): {text: string; flushedPer1000: number} {
  const read = after.read - before.read
  const flushed = after.flushed - before.flushed
  const per = (n: number) => Math.round((n * 1000) / rowChanges)
  return {
    text: `InnoDB pages read ${fmt(read)}, flushed ${fmt(flushed)} (${per(read)} and ${per(flushed)} per 1000 row changes)`,
    flushedPer1000: per(flushed),
  }
}

async function sumStreams(
  dests: Connection[],
): Promise<{rowChanges: number; positions: ReturnType<typeof parseGtidPos>[]}> {
  const rows = (await Promise.all(dests.map(streamRows))).flat()
  return {rowChanges: rows.reduce((s, r) => s + r.rowChanges, 0), positions: rows.map((r) => r.position)}
}

export async function catchup(
  c: TestCluster,
  keys: RowKeys,
  changes: number,
  o: {source: string; replica: string; parallelReplica: string; rdonly: string; destinations: string[]},
): Promise<CatchupResult> {
  const src = await session(c, o.source)
  const dests = await Promise.all(o.destinations.map((d) => session(c, d)))
  const replica = await session(c, o.replica)
  const parallelReplica = await session(c, o.parallelReplica)
  const writers: Connection[] = []
  try {
    // The native replicas stop where the streams stopped: at the source's position now (nothing written since the
    // clone). The parallel one was stopped after the source was loaded (see stopParallelReplica): it catches up first.
    const before = await gtidBinlogPos(src)
    await waitGtid(c, o.replica, before)
    await replica.query('STOP SLAVE')
    await parallelReplica.query('START SLAVE')
    await waitGtid(c, o.parallelReplica, before)
    await parallelReplica.query('STOP SLAVE')
    const threads = o.destinations.length
    await parallelReplica.query(`SET GLOBAL slave_parallel_threads = ${threads}`)
    await parallelReplica.query(`SET GLOBAL slave_parallel_mode = 'optimistic'`)
    // The streams stopped at the clone's snapshot; since then shardform's own heartbeat rows (a few transactions on
    // the source, not in the streams' tables) moved the source on: the native replicas start after those.
    const start = await sumStreams(dests)
    const beforePos = parseGtidPos(before)
    const heartbeatGap = start.positions.map((p) => behind(p, beforePos))
    if (start.positions.length !== o.destinations.length || heartbeatGap.some((g) => g > 20n))
      throw new Error(
        `the streams are not at the source position ${before} after the clone (they are at ${start.positions.map(formatGtidPos).join(', ')}); last source events: ${JSON.stringify(await binlogTail(src))}`,
      )
    if (heartbeatGap.some((g) => g > 0n))
      log(
        `the streams are ${heartbeatGap.join(' and ')} transaction(s) behind the source after the clone (shardform's heartbeat rows): the native replicas start after them`,
      )

    for (let i = 0; i < 8; i++) writers.push(await c.connect(o.source, 'app', {multipleStatements: true}))
    log(
      `writing a backlog of ${changes} row changes (60/30/10 insert/update/delete, 1–10 per transaction, 8 connections) while no stream runs`,
    )
    const backlog = await writeBacklog(writers, keys, changes, {onProgress: (n) => log(`  backlog: ${n} row changes`)})
    const final = await gtidBinlogPos(src)
    log(
      `backlog: ${backlog.rowChanges} row changes (${backlog.inserts} inserts, ${backlog.updates} updates, ${backlog.deletes} deletes) in ${backlog.transactions} transactions, ${backlog.seconds.toFixed(1)} s; source at ${final}`,
    )
    await waitGtid(c, o.rdonly, final)

    // Filtered replication: resume apply (past the approved gate); it waits at the diff gate with its streams running.
    await approveWorkflow(c.store, KEYSPACE, {phase: 'wait_for_filtered_replication', who: 'bench'})
    const target = parseGtidPos(final)
    const pids: Record<string, number> = {}
    for (const d of o.destinations) pids[d] = pidOf(c, d)
    pids[`${o.source} (binlog)`] = pidOf(c, o.source)
    const sampler = new ProcSampler(pids, 100).start()
    const busyConns = await Promise.all(o.destinations.map((d) => session(c, d)))
    const busy = busyConns.map((conn) =>
      new BusySampler(conn, ['START%', 'INSERT%', 'UPDATE%', 'DELETE%', 'COMMIT%']).start(),
    )
    const pagesBefore = await innodbPages(dests)
    const spawned = Date.now()
    const apply = cli(c, ['apply', '--json'], {profile: 'catch-up'})
    sampler.add('node (apply)', apply.pid)
    let first: {at: number; rowChanges: number} | undefined
    let end: {at: number; rowChanges: number} | undefined
    const deadline = Date.now() + 20 * 60_000
    while (!end) {
      if (apply.proc.exitCode !== null)
        throw new Error(
          `apply exited (${apply.proc.exitCode}) during the catch-up:\n${apply.stdout.slice(-2000)}\n${apply.stderr.slice(-2000)}`,
        )
      if (Date.now() > deadline) throw new Error('the streams did not catch up within 20 minutes')
      const at = Date.now()
      const s = await sumStreams(dests)
      if (!first && s.rowChanges > start.rowChanges) first = {at, rowChanges: s.rowChanges}
      if (s.positions.length === o.destinations.length && s.positions.every((p) => reached(p, target)))
        end = {at, rowChanges: s.rowChanges}
      else await new Promise((r) => setTimeout(r, 50))
    }
    sampler.stop()
    const pages = pagesBetween(pagesBefore, await innodbPages(dests), end.rowChanges - start.rowChanges)
    first ??= end
    await Promise.all(busy.map((b) => b.stop()))
    await Promise.all(busyConns.map((conn) => conn.end()))
    const busyText = o.destinations.map((d, i) => `${d} ${pct(busy[i].fraction(first!.at, end!.at))}`).join(', ')
    const applied = end.rowChanges - start.rowChanges
    const seconds = (end.at - spawned) / 1000
    const steadySeconds = (end.at - first.at) / 1000
    const split = sampler.cpuBetween(spawned, end.at)
    const stream: Rate = {
      rows: applied,
      seconds,
      rowsPerS: applied / seconds,
      cpu: coresUsed(split),
      cpuText: describeCpu(split),
      pagesText: pages.text,
      detail: {
        innodbPagesFlushedPer1000: pages.flushedPer1000,
        destinationsBusy: Object.fromEntries(o.destinations.map((d, i) => [d, busy[i].fraction(first!.at, end!.at)])),
        fromApplyStartSeconds: +seconds.toFixed(2),
        firstBatchAfterSeconds: +((first.at - spawned) / 1000).toFixed(2),
        fromFirstBatchRowChangesPerS: Math.round(
          steadySeconds > 0 ? (end.rowChanges - first.rowChanges) / steadySeconds : applied,
        ),
        rowChangesApplied: applied,
      },
    }
    log(
      `filtered replication: ${applied} row changes applied in ${seconds.toFixed(1)} s from \`shardform apply\` start = ${fmt(stream.rowsPerS)} row changes/s (first batch after ${((first.at - spawned) / 1000).toFixed(1)} s; ${String(stream.detail!.fromFirstBatchRowChangesPerS)} row changes/s from it); destinations executing a batch ${busyText} of the time; CPU ${stream.cpuText}; ${stream.pagesText!}`,
    )

    // Native replicas: the same backlog from the same position, one after the other.
    const native = await nativeCatchup(c, replica, o.replica, o.source, final, applied)
    log(
      `native replica ${o.replica} (single-threaded): the same ${applied} row changes in ${native.seconds.toFixed(1)} s from START SLAVE = ${fmt(native.rowsPerS)} row changes/s; CPU ${native.cpuText}`,
    )
    const parallel = await nativeCatchup(c, parallelReplica, o.parallelReplica, o.source, final, applied)
    // Stopped again: later benches run with the cluster as it was before (the rdonly and one replica replicating).
    await parallelReplica.query('STOP SLAVE')
    log(
      `native replica ${o.parallelReplica} (slave_parallel_threads ${threads}, optimistic): the same ${applied} row changes in ${parallel.seconds.toFixed(1)} s from START SLAVE = ${fmt(parallel.rowsPerS)} row changes/s; CPU ${parallel.cpuText}`,
    )
    return {backlog, stream, native, parallel, apply}
  } finally {
    for (const w of writers) await w.end().catch(() => undefined)
    for (const d of dests) await d.end().catch(() => undefined)
    await src.end().catch(() => undefined)
    await replica.end().catch(() => undefined)
    await parallelReplica.end().catch(() => undefined)
  }
}

/** START SLAVE on a stopped replica until it has applied `final` (MASTER_GTID_WAIT), timed from START SLAVE. */
async function nativeCatchup(
  c: TestCluster,
  conn: Connection,
  alias: string,
  source: string,
  final: string,
  rowChanges: number,
): Promise<Rate> {
  const rs = new ProcSampler({[alias]: pidOf(c, alias), [`${source} (binlog)`]: pidOf(c, source)}, 100).start()
  const pagesBefore = await innodbPages([conn])
  const t0 = Date.now()
  await conn.query('START SLAVE')
  const ok = await one<{ok: unknown}>(conn, 'SELECT MASTER_GTID_WAIT(?, 1200) AS ok', [final])
  const t1 = Date.now()
  rs.stop()
  if (Number(text(ok.ok)) !== 0) throw new Error(`replica ${alias} did not reach ${final}`)
  const pages = pagesBetween(pagesBefore, await innodbPages([conn]), rowChanges)
  const split = rs.cpuBetween(t0, t1)
  return {
    rows: rowChanges,
    seconds: (t1 - t0) / 1000,
    rowsPerS: rowChanges / ((t1 - t0) / 1000),
    cpu: coresUsed(split),
    cpuText: describeCpu(split),
    pagesText: pages.text,
    detail: {innodbPagesFlushedPer1000: pages.flushedPer1000},
  }
}

/** After the source is loaded: the parallel-baseline replica stops until the catch-up (no load on it meanwhile). */
export async function stopParallelReplica(c: TestCluster, alias: string): Promise<void> {
  const conn = await session(c, alias)
  try {
    await conn.query('STOP SLAVE')
  } finally {
    await conn.end()
  }
}

async function binlogTail(src: Connection): Promise<unknown> {
  const [logs] = (await src.query('SHOW BINARY LOGS')) as unknown as [Array<{Log_name: string}>]
  const last = logs[logs.length - 1]?.Log_name
  const [ev] = (await src.query(`SHOW BINLOG EVENTS IN '${last}'`)) as unknown as [Array<Record<string, unknown>>]
  return ev.slice(-8).map((e) => `${String(e.Event_type)} ${String(e.Info).slice(0, 120)}`)
}

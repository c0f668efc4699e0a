// 1. Copy: shardform's clone (the CLI, as users run it) against, in the same run, LOAD DATA LOCAL INFILE of the same
// rows and mariadb-dump --single-transaction | mariadb, each into as many fresh instances as the split has
// destinations, loaded in parallel. Also: loading the bench rows into a source.
import {spawn} from 'node:child_process'
import {join} from 'node:path'
import type {TestCluster} from '../test/helpers/cluster.js'
import {
  cli,
  cliOk,
  profileDirOf,
  gtidBinlogPos,
  one,
  phaseTiming,
  pidOf,
  session,
  taskLog,
  taskTiming,
  text,
  waitGtid,
  workflowOf,
} from './lib/cluster.js'
import {DATABASE, loadChunks, TABLE} from './lib/data.js'
import {fmt, log} from './lib/out.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'
import {BusySampler, pct} from './lib/busy.js'
import {describeProfile, newestProfile, summarizeProfile} from './lib/profile.js'

export interface Rate {
  rows: number
  seconds: number
  rowsPerS: number
  cpu?: Record<string, number>
  cpuText?: string
  /** InnoDB pages read from disk and flushed to it meanwhile (catch-up), as text. */
  pagesText?: string
  detail?: Record<string, unknown>
}

/** Several runs of one baseline: their mean rate, each run kept in detail (the machine is noisy). */
export function meanRate(runs: Rate[]): Rate {
  const rowsPerS = runs.reduce((s, r) => s + r.rowsPerS, 0) / runs.length
  const cpu: Record<string, number> = {}
  for (const r of runs)
    for (const [k, v] of Object.entries(r.cpu ?? {})) cpu[k] = Math.round(((cpu[k] ?? 0) + v / runs.length) * 100) / 100
  return {
    rows: runs[0].rows,
    seconds: runs.reduce((s, r) => s + r.seconds, 0) / runs.length,
    rowsPerS,
    cpu,
    cpuText: runs.map((r) => r.cpuText).join(' | '),
    detail: {runsRowsPerS: runs.map((r) => Math.round(r.rowsPerS))},
  }
}

/** LOAD DATA the bench rows into the source primary, then wait until its replicas have them. */
export async function loadSource(
  c: TestCluster,
  primary: string,
  replicas: string[],
  chunks: Buffer[],
  rows: number,
): Promise<Rate> {
  const t0 = Date.now()
  const conn = await session(c, primary, 'copy')
  try {
    await loadChunks(conn, chunks)
    const loaded = Date.now()
    const pos = await gtidBinlogPos(conn)
    for (const r of replicas) await waitGtid(c, r, pos)
    const seconds = (Date.now() - t0) / 1000
    log(
      `source ${primary}: ${rows} rows loaded in ${((loaded - t0) / 1000).toFixed(1)} s, replicas ${replicas.join(', ')} caught up after ${seconds.toFixed(1)} s`,
    )
    return {rows, seconds, rowsPerS: rows / seconds}
  } finally {
    await conn.end()
  }
}

export async function countRows(c: TestCluster, alias: string): Promise<number> {
  const conn = await session(c, alias)
  try {
    return Number(text((await one<{n: unknown}>(conn, `SELECT COUNT(*) AS n FROM ${DATABASE}.${TABLE}`)).n))
  } finally {
    await conn.end()
  }
}

async function recreateTable(c: TestCluster, alias: string): Promise<void> {
  const conn = await session(c, alias, 'apply')
  try {
    await conn.query(`TRUNCATE TABLE ${DATABASE}.${TABLE}`)
  } finally {
    await conn.end()
  }
}

/**
 * Baseline: LOAD DATA LOCAL INFILE of the same rows (statements of COPY_CHUNK_BYTES, as shardform's copy sends) into fresh instances
 * in parallel, one connection each: `parts[i]` (the rows destination i of the split receives) into `aliases[i]`.
 */
export async function loadDataBaseline(
  b: TestCluster,
  aliases: string[],
  parts: Buffer[][],
  rows: number,
): Promise<Rate> {
  for (const alias of aliases) await recreateTable(b, alias)
  const pids = Object.fromEntries(aliases.map((alias) => [alias, pidOf(b, alias)]))
  const sampler = new ProcSampler({'node (bench: LOAD DATA client)': process.pid, ...pids}).start()
  const conns = await Promise.all(aliases.map((alias) => session(b, alias, 'copy')))
  try {
    const t0 = Date.now()
    await Promise.all(conns.map((conn, i) => loadChunks(conn, parts[i])))
    const t1 = Date.now()
    sampler.stop()
    const split = sampler.cpuBetween(t0, t1)
    const seconds = (t1 - t0) / 1000
    const counts = await Promise.all(aliases.map((alias) => countRows(b, alias)))
    const n = counts.reduce((x, y) => x + y, 0)
    if (n !== rows) throw new Error(`LOAD DATA baseline: ${n} rows in ${aliases.join(' and ')}, expected ${rows}`)
    log(
      `baseline LOAD DATA into ${aliases.join(' and ')} in parallel (${counts.join(' + ')} rows): ${rows} rows in ${seconds.toFixed(1)} s = ${fmt(rows / seconds)} rows/s (${describeCpu(split)})`,
    )
    return {
      rows,
      seconds,
      rowsPerS: rows / seconds,
      cpu: coresUsed(split),
      cpuText: describeCpu(split),
      detail: {clientCpuSeconds: split.cpu['node (bench: LOAD DATA client)']},
    }
  } finally {
    sampler.stop()
    await Promise.all(conns.map((conn) => conn.end()))
  }
}

/**
 * Baseline: `mariadb-dump --single-transaction --where 'page % N = i' <db> messages | mariadb <db>` from the source
 * rdonly into each fresh instance, all in parallel (the same rows, as many instances as the split's destinations;
 * split by page parity, as SQL cannot compute the hash vindex).
 */
export async function dumpReloadBaseline(a: TestCluster, from: string, b: TestCluster, to: string[]): Promise<Rate> {
  for (const alias of to) await recreateTable(b, alias)
  const rows = await countRows(a, from)
  const src = a.tablet(from)
  const env = {...process.env, MYSQL_PWD: b.env.SHARDFORM_ADMIN_PASSWORD}
  const t0 = Date.now()
  const pipes = to.map((alias, i) => {
    const dst = b.tablet(alias)
    const dump = spawn(
      'mariadb-dump',
      [
        `--host=${src.host}`,
        `--port=${src.port}`,
        `--user=${src.adminUser}`,
        '--single-transaction',
        `--where=page % ${to.length} = ${i}`,
        DATABASE,
        TABLE,
      ],
      {env, stdio: ['ignore', 'pipe', 'pipe']},
    )
    const load = spawn('mariadb', [`--host=${dst.host}`, `--port=${dst.port}`, `--user=${dst.adminUser}`, DATABASE], {
      env,
      stdio: [dump.stdout!, 'ignore', 'pipe'],
    })
    return {alias, dump, load}
  })
  const pids: Record<string, number> = {[`${from} (source)`]: pidOf(a, from)}
  for (const p of pipes) {
    pids[p.alias] = pidOf(b, p.alias)
    pids[`mariadb-dump → ${p.alias}`] = p.dump.pid!
    pids[`mariadb client → ${p.alias}`] = p.load.pid!
  }
  const sampler = new ProcSampler(pids).start()
  let errors = ''
  // 'exit', not 'close': the dump's stdout belongs to the client, so it never closes on our side.
  const exit = (p: import('node:child_process').ChildProcess) =>
    new Promise<number | null>((ok) => p.once('exit', (code) => ok(code)))
  for (const p of pipes) {
    p.dump.stderr!.on('data', (d: Buffer) => (errors += d.toString()))
    p.load.stderr!.on('data', (d: Buffer) => (errors += d.toString()))
  }
  const codes = await Promise.all(pipes.flatMap((p) => [exit(p.dump), exit(p.load)]))
  const t1 = Date.now()
  sampler.stop()
  for (const p of pipes) p.dump.stdout!.destroy()
  if (codes.some((c) => c !== 0))
    throw new Error(`mariadb-dump | mariadb failed (${codes.join(', ')}): ${errors.trim()}`)
  const split = sampler.cpuBetween(t0, t1)
  const seconds = (t1 - t0) / 1000
  const n = (await Promise.all(to.map((alias) => countRows(b, alias)))).reduce((x, y) => x + y, 0)
  if (n !== rows) throw new Error(`dump and reload: ${n} rows in ${to.join(' and ')}, expected ${rows}`)
  log(
    `baseline mariadb-dump | mariadb into ${to.join(' and ')} in parallel: ${rows} rows in ${seconds.toFixed(1)} s = ${fmt(rows / seconds)} rows/s (${describeCpu(split)})`,
  )
  return {rows, seconds, rowsPerS: rows / seconds, cpu: coresUsed(split), cpuText: describeCpu(split)}
}

export interface CloneRun extends Rate {
  /** Seconds of the copy itself (clone's own log line), without snapshot and stream start. */
  copySeconds?: number
  peakRssMb?: number
  /** RSS of the apply process (MB) at 25/50/75/100% of the clone task. */
  rssAlong?: number[]
  applyMs: number
  /** Fraction of the clone each destination spent executing a LOAD DATA. */
  busy?: Record<string, number>
  /** --profile: where the apply process spent its CPU. */
  profile?: string[]
  phases: Record<string, number>
  workflow: string
  /** CPU seconds of the apply process over the clone task. */
  applyCpuSeconds?: number
}

/**
 * `shardform plan <layout> --out F` and `shardform apply F --no-wait`: runs until the first gate after the clone
 * (exit 3). Times from the workflow record; CPU and memory of the apply process and the tablets from /proc.
 */
export async function cloneWithCli(
  c: TestCluster,
  layout: string,
  tablets: Record<string, string>,
  label: string,
  busyOn: string[] = [],
): Promise<CloneRun> {
  const planFile = join(c.dir, `${label.replace(/[^A-Za-z0-9_-]+/g, '-')}.plan`)
  await cliOk(c, ['plan', layout, '--out', planFile], [0, 2])
  const pids: Record<string, number> = {}
  for (const [name, alias] of Object.entries(tablets)) pids[name] = pidOf(c, alias)
  const busyConns = await Promise.all(busyOn.map((alias) => session(c, alias)))
  const busy = busyConns.map((conn) => new BusySampler(conn, ['LOAD DATA%']).start())
  const sampler = new ProcSampler(pids, 100).start()
  const run = cli(c, ['apply', planFile, '--no-wait', '--json'], {profile: label})
  sampler.add('node (apply)', run.pid)
  const {code, ms} = await run.done
  sampler.stop()
  await Promise.all(busy.map((b) => b.stop()))
  await Promise.all(busyConns.map((conn) => conn.end()))
  if (code !== 3)
    throw new Error(
      `apply ${label} exited ${code} (expected 3, waiting at the gate after the clone):\n${run.stdout.slice(-2000)}\n${run.stderr.slice(-2000)}`,
    )
  const wf = await workflowOf(c.store)
  const clone = taskTiming(wf, 'clone/0')
  if (clone.state !== 'done' || clone.startedAt === undefined || clone.finishedAt === undefined)
    throw new Error(`clone/0 is ${clone.state}`)
  const rows = Number(clone.output?.rows ?? 0)
  const split = sampler.cpuBetween(clone.startedAt, clone.finishedAt)
  const copied = taskLog(wf, 'clone/0')
    .map((m) => /copied (\d+) row\(s\).* in ([\d.]+)s/.exec(m))
    .find(Boolean)
  const phases: Record<string, number> = {}
  for (const p of ['apply_vschema', 'create_shards', 'copy_schema', 'clone']) {
    if (Object.keys(wf.tasks).some((id) => id.startsWith(`${p}/`) || id === p))
      phases[p] = +phaseTiming(wf, p).seconds.toFixed(2)
  }
  const span = clone.finishedAt - clone.startedAt
  const rssAlong = [0.25, 0.5, 0.75, 1].map((f) =>
    Math.round(sampler.rssMbAt('node (apply)', clone.startedAt! + f * span) ?? 0),
  )
  const out: CloneRun = {
    rows,
    seconds: clone.seconds!,
    rowsPerS: rows / clone.seconds!,
    copySeconds: copied ? Number(copied[2]) : undefined,
    cpu: coresUsed(split),
    cpuText: describeCpu(split),
    peakRssMb: sampler.peakMb('node (apply)'),
    rssAlong,
    applyMs: ms,
    busy: Object.fromEntries(
      busyOn.map((alias, i) => [alias, busy[i].fraction(clone.startedAt!, clone.finishedAt!) ?? NaN]),
    ),
    phases,
    workflow: wf.id,
    applyCpuSeconds: split.cpu['node (apply)'],
  }
  const prof = profileDirOf(label) && newestProfile(profileDirOf(label)!)
  if (prof) out.profile = describeProfile(summarizeProfile(prof))
  log(
    `${label}: clone of ${rows} rows in ${clone.seconds!.toFixed(1)} s = ${fmt(out.rowsPerS)} rows/s (copy itself ${out.copySeconds ?? '?'} s); destinations executing LOAD DATA ${
      Object.entries(out.busy ?? {})
        .map(([k, v]) => `${k} ${pct(v)}`)
        .join(', ') || '?'
    } of the time; apply process peak RSS ${out.peakRssMb?.toFixed(0)} MB (along the clone: ${rssAlong.join(', ')} MB); CPU ${out.cpuText}`,
  )
  return out
}

// Clusters for the benchmarks (test/helpers/cluster.ts: real mariadbd per tablet on free ports, etcd topology), the
// CLI as a subprocess, and the workflow record.
import {execFileSync, spawn, type ChildProcess} from 'node:child_process'
import {copyFileSync, mkdirSync} from 'node:fs'
import {join, resolve} from 'node:path'
import type {Connection} from 'mysql2/promise'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {dataSession, type SessionKind} from '../../src/mysql/session.js'
import type {TopoStore} from '../../src/topo/store.js'
import {startTestCluster, type TestCluster} from '../../test/helpers/cluster.js'
import {startEtcd, type TestEtcd} from '../../test/helpers/etcd.js'
import {log} from './out.js'

export const ROOT = resolve(import.meta.dirname, '../..')
export const BIN = join(ROOT, 'bin/run.js')
export const LAYOUTS = join(ROOT, 'bench/layouts')
export const layoutFile = (name: string) => join(LAYOUTS, name)
export const KEYSPACE = 'test_keyspace'

/** innodb_buffer_pool_size of every instance (cluster and baselines alike): the `shardform local up` default. */
export const BUFFER_POOL = '64M'
/** innodb_log_file_size of every instance: the `shardform local up` default (MariaDB's own is 96M). */
export const REDO_LOG = '64M'

let etcd: TestEtcd | undefined
const clusters = new Set<TestCluster>()
/** CLI processes still running (an apply waiting at a gate): stopped by stopAll(). */
const children = new Set<ChildProcess>()

export async function sharedEtcd(): Promise<TestEtcd> {
  etcd ??= await startEtcd()
  return etcd
}

export interface InnodbSizes {
  /** --redo-mb: the InnoDB redo log (set in the my.cnf; MariaDB resizes at start). */
  redoMb?: number
  /** --buffer-pool-mb: innodb_buffer_pool_size. */
  bufferPoolMb?: number
}
let innodb: InnodbSizes = {}
/** Other InnoDB sizes than `shardform local up`'s for every instance started from now on, baselines too. */
export function setInnodbSizes(sizes: InnodbSizes): void {
  innodb = sizes
}

/** SHOW GLOBAL STATUS counters whose names match `names`, as numbers. */
export async function globalStatus(conn: Connection, names: RegExp): Promise<Record<string, number>> {
  const [rows] = (await conn.query('SHOW GLOBAL STATUS')) as unknown as [Array<{Variable_name: string; Value: string}>]
  const out: Record<string, number> = {}
  for (const r of rows) if (names.test(r.Variable_name)) out[r.Variable_name] = Number(r.Value)
  return out
}

export async function startBenchCluster(
  layouts: string[],
  opts: {init?: boolean | number; schema?: boolean} = {},
): Promise<TestCluster> {
  const t0 = Date.now()
  const c = await startTestCluster(layouts, {
    etcd: await sharedEtcd(),
    bufferPool: innodb.bufferPoolMb ? `${innodb.bufferPoolMb}M` : BUFFER_POOL,
    redoLog: innodb.redoMb ? `${innodb.redoMb}M` : REDO_LOG,
    init: opts.init ?? 0,
    schema: opts.schema ?? true,
  })
  clusters.add(c)
  log(
    `cluster up: ${c.tablets.map((t) => `${t.alias}(${t.type}, pid ${t.pid})`).join(', ')} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  )
  return c
}

let logsDir: string | undefined
/** After a failure: keep every instance's error log (in `dir`) when its cluster is stopped and purged. */
export function keepLogs(dir: string): void {
  logsDir = dir
}

export async function stopBenchCluster(c: TestCluster | undefined): Promise<void> {
  if (!c || !clusters.has(c)) return
  clusters.delete(c)
  if (logsDir) {
    mkdirSync(logsDir, {recursive: true})
    for (const t of c.tablets) {
      try {
        copyFileSync(t.errorLog, join(logsDir, `${t.alias}-${t.pid}.error.log`))
      } catch {
        // no log
      }
    }
    log(`error logs of ${c.tablets.map((t) => t.alias).join(', ')} kept in ${logsDir}`)
  }
  await c.stop()
}

/**
 * Runs `fn` on a fresh bench cluster of `layouts`, stopped afterwards; when it fails, the instances' error logs are
 * kept in bench/out/logs.
 */
export async function withBenchCluster<T>(layouts: string[], fn: (c: TestCluster) => Promise<T>): Promise<T> {
  let c: TestCluster | undefined
  try {
    c = await startBenchCluster(layouts)
    return await fn(c)
  } catch (err) {
    keepLogs(join(ROOT, 'bench/out/logs', new Date().toISOString().replace(/[:.]/g, '-')))
    throw err
  } finally {
    await stopBenchCluster(c)
  }
}

/** Stop every cluster and the etcd (also on failure or Ctrl-C). */
export async function stopAll(): Promise<void> {
  for (const p of [...children]) await stopChild(p)
  for (const c of [...clusters]) await stopBenchCluster(c).catch(() => undefined)
  await etcd?.stop().catch(() => undefined)
  etcd = undefined
}

export function pidOf(c: TestCluster, alias: string): number {
  const t = c.tablets.find((x) => x.alias === alias)
  if (!t) throw new Error(`no tablet ${alias}`)
  return t.pid
}

/** A data-plane session (as shardform opens them) on a tablet of the cluster. */
export function session(c: TestCluster, alias: string, kind: SessionKind = 'read'): Promise<Connection> {
  return dataSession(c.tablet(alias), kind)
}

export async function one<T = Record<string, unknown>>(
  conn: Connection,
  sql: string,
  params: unknown[] = [],
): Promise<T> {
  const [rows] = (await conn.query(sql, params)) as unknown as [T[]]
  return rows[0]
}

export const text = (v: unknown) =>
  Buffer.isBuffer(v) ? v.toString('utf8') : v === null || v === undefined ? '' : String(v)

export async function gtidBinlogPos(conn: Connection): Promise<string> {
  return text((await one<{p: unknown}>(conn, 'SELECT @@global.gtid_binlog_pos AS p')).p)
}

/** Wait until a replica has applied `pos` (MASTER_GTID_WAIT). */
export async function waitGtid(c: TestCluster, alias: string, pos: string, timeoutS = 600): Promise<void> {
  const conn = await session(c, alias)
  try {
    const r = await one<{ok: unknown}>(conn, 'SELECT MASTER_GTID_WAIT(?, ?) AS ok', [pos, timeoutS])
    if (Number(text(r.ok)) !== 0) throw new Error(`${alias} did not reach ${pos} within ${timeoutS} s`)
  } finally {
    await conn.end()
  }
}

// ---- the CLI

export interface CliRun {
  proc: ChildProcess
  pid: number
  stdout: string
  stderr: string
  done: Promise<{code: number | null; signal: NodeJS.Signals | null; ms: number}>
}

let profileDir: string | undefined
let extraNode: {args: string[]; env: Record<string, string>} = {args: [], env: {}}
/** Diagnostics (bench/explore-memory.ts): node flags and environment for every CLI process started from now on. */
export function setCliNode(args: string[], env: Record<string, string> = {}): void {
  extraNode = {args, env}
}
/** --profile: CLI processes started with a profile label write a V8 CPU profile into <dir>/<label>/ on exit. */
export function setProfileDir(dir: string | undefined): void {
  profileDir = dir
}
export const profileDirOf = (label: string) =>
  profileDir ? join(profileDir, label.replace(/[^A-Za-z0-9_-]+/g, '-')) : undefined

/** Can this process run a child under its own host name (root: `unshare --uts`)? */
export function canFakeHost(): boolean {
  try {
    execFileSync('unshare', ['--uts', 'true'], {stdio: 'ignore'})
    return true
  } catch {
    return false
  }
}

/**
 * `node bin/run.js …` with the cluster's environment (passwords, topology); what a user runs. `host`: run it in its
 * own UTS namespace under that host name (same network), as if on another machine (needs canFakeHost()).
 */
export function cli(c: TestCluster, args: string[], opts: {profile?: string; host?: string} = {}): CliRun {
  const t0 = Date.now()
  const prof = opts.profile ? profileDirOf(opts.profile) : undefined
  const nodeArgs = [...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), ...extraNode.args]
  const argv = [process.execPath, ...nodeArgs, BIN, ...args]
  // unshare and sh exec in place: the child's pid is node's.
  const [cmd, ...rest] = opts.host
    ? ['unshare', '--uts', 'sh', '-c', 'hostname "$1" && shift && exec "$@"', 'sh', opts.host, ...argv]
    : argv
  const proc = spawn(cmd!, rest, {
    cwd: ROOT,
    env: {PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...c.env, ...extraNode.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const run: CliRun = {
    proc,
    pid: proc.pid!,
    stdout: '',
    stderr: '',
    done: new Promise((ok) => proc.once('close', (code, signal) => ok({code, signal, ms: Date.now() - t0}))),
  }
  children.add(proc)
  proc.once('exit', () => children.delete(proc))
  proc.stdout!.on('data', (d: Buffer) => (run.stdout += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (run.stderr += d.toString()))
  return run
}

/** `shardform plan` of the cluster's split layout (its second) into `c.dir/<name>.plan`; a changes-pending exit is fine. */
export async function planToFile(c: TestCluster, name: string): Promise<string> {
  const planFile = join(c.dir, `${name}.plan`)
  const planned = cli(c, ['plan', c.layoutFiles[1]!, '--out', planFile])
  const pc = await planned.done
  if (pc.code !== 0 && pc.code !== 2) throw new Error(`plan exited ${pc.code}: ${planned.stderr.slice(-2000)}`)
  return planFile
}

/** SIGINT (apply stops at a safe point), then SIGKILL after 10 s. */
export async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return
  const gone = new Promise<void>((ok) => p.once('exit', () => ok()))
  p.kill('SIGINT')
  const timer = setTimeout(() => p.kill('SIGKILL'), 10_000)
  await gone
  clearTimeout(timer)
}

/** Run the CLI to completion; throw unless it exits with one of `codes`. */
export async function cliOk(
  c: TestCluster,
  args: string[],
  codes = [0],
): Promise<CliRun & {code: number | null; ms: number}> {
  const r = cli(c, args)
  const {code, ms} = await r.done
  if (!codes.includes(code ?? -1)) {
    throw new Error(`shardform ${args.join(' ')} exited ${code}:\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`)
  }
  return {...r, code, ms}
}

// ---- the workflow record

export async function workflowOf(store: TopoStore, keyspace = KEYSPACE): Promise<WorkflowRecord> {
  const all = (await store.list<WorkflowRecord>('workflows/'))
    .filter((e) => e.path.endsWith('/Workflow'))
    .map((e) => e.value)
  const mine = all.filter((w) => w.keyspace === keyspace).sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  if (!mine.length) throw new Error(`no workflow for ${keyspace}`)
  return mine[mine.length - 1]
}

export interface TaskTiming {
  id: string
  state: string
  startedAt?: number
  finishedAt?: number
  seconds?: number
  output?: Record<string, unknown>
}

export function taskTiming(wf: WorkflowRecord, id: string): TaskTiming {
  const t = wf.tasks[id]
  if (!t) throw new Error(`workflow ${wf.id} has no task ${id}`)
  const startedAt = t.startedAt ? Date.parse(t.startedAt) : undefined
  const finishedAt = t.finishedAt ? Date.parse(t.finishedAt) : undefined
  return {
    id,
    state: t.state,
    startedAt,
    finishedAt,
    seconds: startedAt !== undefined && finishedAt !== undefined ? (finishedAt - startedAt) / 1000 : undefined,
    output: t.output,
  }
}

/** Wall time of a phase: first task start to last task end. */
export function phaseTiming(
  wf: WorkflowRecord,
  phase: string,
): {startedAt: number; finishedAt: number; seconds: number; tasks: TaskTiming[]} {
  const tasks = Object.keys(wf.tasks)
    .filter((id) => id === phase || id.startsWith(`${phase}/`))
    .map((id) => taskTiming(wf, id))
  const startedAt = Math.min(...tasks.map((t) => t.startedAt ?? Infinity))
  const finishedAt = Math.max(...tasks.map((t) => t.finishedAt ?? -Infinity))
  return {startedAt, finishedAt, seconds: (finishedAt - startedAt) / 1000, tasks}
}

/** Messages of the workflow's log events for a task (e.g. clone's "copied N row(s) … in Xs"). */
export function taskLog(wf: WorkflowRecord, id: string): string[] {
  return wf.events.filter((e) => e.task === id && e.type === 'log').map((e) => e.message)
}

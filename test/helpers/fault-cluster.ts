// Fault injection on a real test cluster (issue #8): bulk rows, kill -9 / restart of a tablet's mariadbd, the CLI
// as a subprocess, and checks that every bulk row is on exactly one shard, the one owning its keyspace id.
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {prng} from '../../bench/lib/data.js'
import {keyRangeContains, keyRangeFromJSON, parseShardName} from '../../src/keyspace/keyrange.js'
import {keyspaceIds} from '../../src/keyspace/vindexes/index.js'
import {REPL_PASSWORD_ENV, startCluster, tabletsFromLayouts} from '../../src/local/index.js'
import {rootConnection} from '../../src/local/mariadb.js'
import type {WorkflowRecord} from '../../src/engine/types.js'
import {readKeyspaceState} from '../../src/plan/keyspace-state.js'
import {workflowPath, workflowsPrefix} from '../../src/topo/paths.js'
import {Cli} from './engine-cli.js'
import {startTestCluster, testPasswords, type TestCluster} from './cluster.js'
import {registerProcess} from './procs.js'

export const KS = 'test_keyspace'

/** Kept for the fault tests' readability: startTestCluster already retries a start whose port was taken. */
export const startFaultCluster = startTestCluster

/** Every injection is printed (the issue asks each run to say what it injected). */
export function injected(what: string): void {
  console.log(`[fault] ${new Date().toISOString().slice(11, 23)} injected: ${what}`)
}

/** Reproducible "random" moments in [0, 1) (the benchmarks' seeded PRNG); print the seed so a failure can be replayed. */
export function rng(seed: number): () => number {
  const next = prng(seed)
  return () => next() / 4294967296
}

/**
 * `n` guestbook rows written straight into the source primary (as admin, in chunks; the replicas follow): page =
 * time_created_ns = 1..n, so bulk rows are told apart from the load generator's (whose time_created_ns are huge).
 * `messageBytes` makes the copy long enough to interrupt.
 */
export async function bulkLoad(
  c: TestCluster,
  n: number,
  opts: {alias?: string; messageBytes?: number; chunk?: number} = {},
): Promise<void> {
  const alias = opts.alias ?? 'test-100'
  const reps = Math.max(1, Math.ceil((opts.messageBytes ?? 200) / 32))
  const chunk = opts.chunk ?? 50_000
  const conn = await c.connect(alias, 'admin')
  try {
    for (let from = 1; from <= n; from += chunk) {
      const to = Math.min(n, from + chunk - 1)
      await conn.query(
        `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq, ' ', REPEAT(MD5(seq), ${reps})) FROM seq_${from}_to_${to}`,
      )
    }
  } finally {
    await conn.end()
  }
  await c.waitReplication(120_000)
}

/** The primaries serving each shard now, with their key ranges. */
export async function servingPrimaries(
  c: TestCluster,
): Promise<Array<{shard: string; alias: string; kr: ReturnType<typeof keyRangeFromJSON>}>> {
  const st = await readKeyspaceState(c.store, KS)
  if (!st) throw new Error(`no keyspace ${KS}`)
  return st.srvKeyspace.partitions.primary.map((name) => {
    const sh = st.shards.find((s) => s.name === name)!
    return {shard: name, alias: sh.primary!, kr: keyRangeFromJSON(sh.keyRange)}
  })
}

/**
 * Every bulk row 1..n (but those `deleted`) is on exactly one serving shard (or one of `on`: shard → primary alias,
 * e.g. destinations not serving yet), the one whose key range holds hash(page); returns the count per shard. (The
 * load generator never touches bulk rows.)
 */
export async function checkBulkRows(
  c: TestCluster,
  n: number,
  opts: {deleted?: (page: number) => boolean; on?: Record<string, string>} = {},
): Promise<Record<string, number>> {
  const shards = opts.on
    ? Object.entries(opts.on).map(([shard, alias]) => ({shard, alias, kr: parseShardName(shard)}))
    : await servingPrimaries(c)
  const seen = new Uint8Array(n + 1)
  const counts: Record<string, number> = {}
  const problems: string[] = []
  for (const s of shards) {
    const rows = await c.query<{page: string}>(s.alias, 'SELECT page FROM messages WHERE time_created_ns <= ?', [n])
    counts[s.shard] = rows.length
    const pages = rows.map((r) => BigInt(r.page))
    const ids = keyspaceIds('hash', pages)
    pages.forEach((p, i) => {
      const k = Number(p)
      if (k < 1 || k > n) problems.push(`page ${p} on ${s.shard} is no bulk row`)
      else if (opts.deleted?.(k)) problems.push(`page ${p} was deleted but is on ${s.shard}`)
      else if (seen[k]++) problems.push(`page ${p} is on more than one shard (again on ${s.shard})`)
      if (!keyRangeContains(s.kr, ids[i]!)) problems.push(`page ${p} is on ${s.shard}, outside its key range`)
    })
  }
  let missing = 0
  for (let k = 1; k <= n; k++) if (!seen[k] && !opts.deleted?.(k)) missing++
  if (missing) problems.push(`${missing} bulk row(s) missing`)
  if (problems.length)
    throw new Error(
      `bulk rows: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (+${problems.length - 10})` : ''}`,
    )
  return counts
}

/** SIGKILL a tablet's mariadbd (a crash) and wait until it is gone. */
export async function killTablet(c: TestCluster, alias: string): Promise<number> {
  const t = c.tablets.find((x) => x.alias === alias)
  if (!t) throw new Error(`no tablet ${alias}`)
  const pid = t.pid
  process.kill(pid, 'SIGKILL')
  for (let i = 0; i < 200; i++) {
    try {
      process.kill(pid, 0)
    } catch {
      return pid
    }
    await sleep(25)
  }
  throw new Error(`mariadbd of ${alias} (pid ${pid}) did not die`)
}

/**
 * Start the stopped instances of the test cluster again on their data directories, the way `shardform local up`
 * does (startCluster on the same folder: running instances are left alone). Updates the pids in c.tablets.
 */
export async function restartStopped(c: TestCluster): Promise<string[]> {
  const pw = testPasswords()
  const cluster = await startCluster({
    dir: join(c.dir, 'local'),
    tablets: tabletsFromLayouts(c.layouts),
    passwords: pw,
    replPassword: pw[REPL_PASSWORD_ENV]!,
    bufferPool: '32M',
  })
  const restarted: string[] = []
  for (const t of cluster.tablets) {
    const mine = c.tablets.find((x) => x.alias === t.alias)
    if (mine) mine.pid = t.pid
    if (t.action === 'running') continue
    restarted.push(`${t.alias} (${t.action}, pid ${t.pid})`)
    registerProcess(`mariadbd ${t.alias} (${c.dir}, restarted)`, t.pid, {group: c.dir})
  }
  return restarted
}

/** The CLI as a subprocess with the cluster's environment (passwords, topology). */
export function cliProc(c: TestCluster, args: string[], extraEnv: Record<string, string> = {}): Cli {
  return new Cli(args, {...process.env, NO_COLOR: '1', ...c.env, ...extraEnv})
}

export async function workflows(c: TestCluster): Promise<WorkflowRecord[]> {
  return (await c.store.list<WorkflowRecord>(workflowsPrefix()))
    .filter((e) => e.path.endsWith('/Workflow'))
    .map((e) => e.value)
}

export async function workflowById(c: TestCluster, id: string): Promise<WorkflowRecord> {
  const e = await c.store.get<WorkflowRecord>(workflowPath(id))
  if (!e) throw new Error(`no workflow ${id}`)
  return e.value
}

/** The keyspace's unfinished workflow, if any. */
export async function openWorkflow(c: TestCluster): Promise<WorkflowRecord | undefined> {
  return (await workflows(c)).find((w) => w.keyspace === KS && w.state !== 'done' && w.state !== 'cancelled')
}

/** Statements as root over the instance's socket (grants need it: shardform's admin user has no GRANT OPTION). */
export async function asRoot(c: TestCluster, alias: string, statements: string[]): Promise<void> {
  const t = c.tablets.find((x) => x.alias === alias)
  if (!t) throw new Error(`no tablet ${alias}`)
  const conn = await rootConnection(t.socket)
  try {
    for (const sql of statements) await conn.query(sql)
  } finally {
    await conn.end()
  }
}

export async function readOnly(c: TestCluster, alias: string): Promise<boolean> {
  const [r] = await c.query<{ro: number | string}>(alias, 'SELECT @@global.read_only AS ro')
  return Number(r!.ro) === 1
}

/** Copy of a layout with its approvals (and optionally settings) replaced. */
export function withApprovals(text: string, approvals: string, settings?: string): string {
  let out = text.replace(/approvals:\n( {2}.*\n)+/, `approvals:\n${approvals.replace(/^/gm, '  ').trimEnd()}\n`)
  if (settings) out = out.replace(/^shards:/m, `settings:\n${settings.replace(/^/gm, '  ').trimEnd()}\nshards:`)
  return out
}

/** Layout `i` of cluster `c` with these approvals (and settings), written as `name` into the cluster's folder. */
export function gatedLayout(c: TestCluster, i: number, name: string, approvals: string, settings?: string): string {
  const out = join(c.dir, name)
  writeFileSync(out, withApprovals(readFileSync(c.layoutFiles[i]!, 'utf8'), approvals, settings))
  return out
}

/** Structural invariants of a workflow record; returns the problems found. */
export function recordProblems(wf: WorkflowRecord): string[] {
  const out: string[] = []
  const states = new Set(['pending', 'waiting_approval', 'running', 'done', 'failed'])
  const ids = wf.plan.phases.flatMap((p) => p.tasks.map((t) => t.id))
  if (JSON.stringify(Object.keys(wf.tasks).sort()) !== JSON.stringify([...ids].sort()))
    out.push(`tasks ${Object.keys(wf.tasks).join(',')} do not match the plan's ${ids.join(',')}`)
  for (const t of Object.values(wf.tasks)) {
    if (!states.has(t.state)) out.push(`${t.id}: unknown state ${t.state}`)
    if (t.state === 'done' && (!t.finishedAt || t.attempts < 1)) out.push(`${t.id}: done without finishedAt/attempts`)
    if (t.state === 'failed' && !t.error) out.push(`${t.id}: failed without an error`)
    for (const r of t.runs ?? [])
      if (r.attempt > t.attempts) out.push(`${t.id}: run of attempt ${r.attempt} > attempts ${t.attempts}`)
  }
  // A phase runs only once the previous one is done.
  let blocked = ''
  for (const p of wf.plan.phases) {
    const st = p.tasks.map((t) => wf.tasks[t.id]!.state)
    if (blocked && st.some((s) => s === 'done' || s === 'running' || s === 'failed'))
      out.push(`phase ${p.name} has work although ${blocked} is not done`)
    if (!blocked && st.some((s) => s !== 'done')) blocked = p.name
  }
  if (wf.state === 'done' && blocked) out.push(`workflow done but phase ${blocked} is not`)
  for (const e of wf.events)
    if (!e.at || Number.isNaN(Date.parse(e.at)) || !e.type || typeof e.message !== 'string')
      out.push(`malformed event ${JSON.stringify(e)}`)
  return out
}

/** Is `a` (events) a prefix of `b`? Returns the first index where they differ, or -1. */
export function eventsDiverge(a: WorkflowRecord['events'], b: WorkflowRecord['events']): number {
  if (a.length > b.length) return b.length
  for (let i = 0; i < a.length; i++) if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) return i
  return -1
}

/** Replication on `alias` (a replica) applies events only `delay` seconds after they were written (0: at once). */
export async function delayReplica(c: TestCluster, alias: string, delay: number): Promise<void> {
  const conn = await c.connect(alias, 'admin')
  try {
    await conn.query('STOP SLAVE')
    await conn.query(`CHANGE MASTER TO MASTER_DELAY = ${delay}`)
    await conn.query('START SLAVE')
  } finally {
    await conn.end()
  }
}

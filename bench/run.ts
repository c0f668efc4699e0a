// `npm run bench`: starts its own local clusters, measures every figure of issue #7 beside its baseline in the same
// run, prints one JSON line per figure (stdout; progress on stderr) and writes bench/RESULTS.md.
//   tsx bench/run.ts [--rows 1000000] [--backlog 200000] [--memory-rows 1000000,4000000] [--only copy,diff,…]
import {execFileSync, spawn} from 'node:child_process'
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {parseArgs} from 'node:util'
import type {TestCluster} from '../test/helpers/cluster.js'
import {approveWorkflow} from '../src/engine/commands.js'
import {COPY_CHUNK_BYTES} from '../src/mysql/copy.js'
import {catchup, stopParallelReplica} from './catchup.js'
import {
  cloneWithCli,
  dumpReloadBaseline,
  loadDataBaseline,
  loadSource,
  meanRate,
  type CloneRun,
  type Rate,
} from './copy.js'
import {cutover} from './cutover.js'
import {deferKeysScenario} from './defer-keys.js'
import {fanoutScenario} from './fanout.js'
import {throttleScenario} from './throttle.js'
import {runDiff} from './diff.js'
import {
  gtidBinlogPos,
  cli,
  keepLogs,
  KEYSPACE,
  layoutFile,
  profileDirOf,
  ROOT,
  session,
  setProfileDir,
  setInnodbSizes,
  startBenchCluster,
  stopAll,
  stopBenchCluster,
  stopChild,
  waitGtid,
  type CliRun,
} from './lib/cluster.js'
import {describeProfile, newestProfile, summarizeProfile} from './lib/profile.js'
import {readChunks, rowKeys, splitByHalf, writeRowsFile} from './lib/data.js'
import {allNotes, emit, figures, fmt, log, note, ratio, type Figure} from './lib/out.js'
import {listCores, loadAverage} from './lib/proc.js'
import {pct} from './lib/busy.js'
import {writeResults} from './lib/report.js'
import {CLONE_TABLETS, cloneFresh} from './memory.js'
import {loadMax, pidMap, steadyLag} from './steady-lag.js'
import {serverIdleScenario} from './server-idle.js'
import {serverScenario} from './server-scenario.js'

const BENCHES = [
  'copy',
  'guestbook',
  'catchup',
  'lag',
  'diff',
  'cutover',
  'memory',
  'plan',
  'server',
  'server-idle',
  'defer-keys',
  'fanout',
  'throttle',
] as const
type Bench = (typeof BENCHES)[number]

const HELP = `npm run bench -- [flags]      (or: tsx bench/run.ts [flags]; build first, the CLI runs from dist/)
  --rows N             rows cloned by the copy, catch-up, lag, diff and cutover benches (default 1000000)
  --backlog N          row changes in the catch-up backlog (default 100000)
  --memory-rows A,B    table sizes for the memory bench (default 1000000,4000000)
  --fanout-rows N      rows split 1 → 2 and 1 → 8 by the fan-out bench (default 400000)
  --fanout-runs N      pairs of fan-out splits; figures compare medians (default 3)
  --throttle-rows N    rows cloned by the throttle bench, twice (default 1500000)
  --throttle-rate N    application writes/s on the source during the throttle bench (default 1000)
  --throttle-batch N   rows per application write (one INSERT) in the throttle bench (default 4)
  --throttle-limit S   throttleReplicaLagSeconds of the throttled clone (default 1)
  --throttle-job-rows N  rows of the application's batch UPDATE every 3 s during the throttle bench (default 75000; 0: none)
  --lag-step S         seconds per steady-lag step (default 10)
  --baseline-seconds S seconds of the load generator's own maximum (default 10)
  --cutover-rate N     writes/s through the router during the cutover (default 300)
  --cutover-concurrency N  (default 8)
  --server-rate N      writes/s on the source during the server bench (default 150)
  --server-seconds S   seconds of probe rows per lag measurement of the server bench (default 60)
  --server-ttl S       --lock-ttl of the bench's servers (default 5)
  --server-kills N     kill -9 of the server running a stream, per mode (default 3)
  --only LIST          some of: ${BENCHES.join(', ')} (default: all)
  --results FILE       Markdown report (default bench/RESULTS.md for a whole run, bench/out/<groups>.md with --only,
                       so that a partial run never replaces the full report; "-" for none)
  --redo-mb N          InnoDB redo log of every instance, baselines too (default 64, as \`shardform local up\`)
  --buffer-pool-mb N   InnoDB buffer pool of every instance, baselines too (default 64, as \`shardform local up\`)
  --profile            V8 CPU profiles of the apply processes (bench/out/profiles/), summarised in the report
                       (slows them down: for finding bounds, not for the figures)
Figures: one JSON line each on stdout. Progress: stderr.`

const {values: flags} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    backlog: {type: 'string', default: '100000'},
    'memory-rows': {type: 'string', default: '1000000,4000000'},
    'fanout-rows': {type: 'string', default: '400000'},
    'fanout-runs': {type: 'string', default: '3'},
    'throttle-rows': {type: 'string', default: '1500000'},
    'throttle-rate': {type: 'string', default: '1000'},
    'throttle-batch': {type: 'string', default: '4'},
    'throttle-limit': {type: 'string', default: '1'},
    'throttle-job-rows': {type: 'string', default: '75000'},
    'lag-step': {type: 'string', default: '10'},
    'baseline-seconds': {type: 'string', default: '10'},
    'cutover-rate': {type: 'string', default: '300'},
    'cutover-concurrency': {type: 'string', default: '8'},
    'server-rate': {type: 'string', default: '150'},
    'server-seconds': {type: 'string', default: '60'},
    'server-ttl': {type: 'string', default: '5'},
    'server-kills': {type: 'string', default: '3'},
    only: {type: 'string'},
    results: {type: 'string'},
    profile: {type: 'boolean'},
    'redo-mb': {type: 'string'},
    'buffer-pool-mb': {type: 'string'},
    help: {type: 'boolean', short: 'h'},
  },
})
if (flags.help) {
  process.stdout.write(HELP + '\n')
  process.exit(0)
}
const int = (name: string, v: string | undefined, min = 1): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} takes a whole number ≥ ${min}, not "${v}"\n${HELP}\n`)
    process.exit(1)
  }
  return n
}
const ROWS = int('rows', flags.rows, 1000)
const BACKLOG = int('backlog', flags.backlog, 100)
const MEMORY_ROWS = (flags['memory-rows'] ?? '')
  .split(',')
  .filter(Boolean)
  .map((s) => int('memory-rows', s, 1000))
const FANOUT_ROWS = int('fanout-rows', flags['fanout-rows'], 1000)
const FANOUT_RUNS = int('fanout-runs', flags['fanout-runs'], 1)
const THROTTLE = {
  rows: int('throttle-rows', flags['throttle-rows'], 1000),
  rate: int('throttle-rate', flags['throttle-rate']),
  rowsPerWrite: int('throttle-batch', flags['throttle-batch']),
  limit: int('throttle-limit', flags['throttle-limit']),
  aloneSeconds: 10,
  jobRows: int('throttle-job-rows', flags['throttle-job-rows'], 0),
}
const LAG_STEP = int('lag-step', flags['lag-step'])
const BASELINE_SECONDS = int('baseline-seconds', flags['baseline-seconds'])
const CUTOVER_RATE = int('cutover-rate', flags['cutover-rate'])
const CUTOVER_CONCURRENCY = int('cutover-concurrency', flags['cutover-concurrency'])
const SERVER = {
  rate: int('server-rate', flags['server-rate']),
  seconds: int('server-seconds', flags['server-seconds']),
  ttl: int('server-ttl', flags['server-ttl']),
  kills: int('server-kills', flags['server-kills']),
}
const REDO_MB = flags['redo-mb'] ? int('redo-mb', flags['redo-mb'], 4) : undefined
const POOL_MB = flags['buffer-pool-mb'] ? int('buffer-pool-mb', flags['buffer-pool-mb'], 8) : undefined
setInnodbSizes({redoMb: REDO_MB, bufferPoolMb: POOL_MB})
const only = new Set<Bench>((flags.only ? flags.only.split(',').map((s) => s.trim()) : BENCHES) as Bench[])
const resultsFile =
  flags.results ?? (flags.only ? join(ROOT, `bench/out/${[...only].join('-')}.md`) : join(ROOT, 'bench/RESULTS.md'))
for (const b of only) {
  if (!BENCHES.includes(b)) {
    process.stderr.write(`--only: unknown bench "${b}" (one of ${BENCHES.join(', ')})\n`)
    process.exit(1)
  }
}
const want = (b: Bench) => only.has(b)

const failures: string[] = []
const memoryPeaks = new Map<number, CloneRun>()
let cloneRate: number | undefined
let cloneCpu: Record<string, number> | undefined
let loadDataRate: Rate | undefined

/** The copy baselines' fresh instances (bench/layouts/baseline.yaml): as many as the split's destinations. */
const BASE_INSTANCES = ['base-200', 'base-300']

const human = (n: number) => (n % 1_000_000 === 0 ? `${n / 1_000_000}M` : n % 1000 === 0 ? `${n / 1000}k` : String(n))

/** The servers' own logs say whether one of them crashed: after a failure they are kept (bench/out/logs/). */
function keepLogsAfterFailure(): void {
  keepLogs(join(ROOT, 'bench/out/logs', new Date().toISOString().replace(/[:.]/g, '-')))
}

async function attempt(what: string, fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    const msg = `${what}: ${(err as Error).stack ?? err}`
    log(`FAILED ${msg}`)
    failures.push(`${what}: ${(err as Error).message}`)
  }
}

/** Copy, catch-up, steady lag, diff and cutover: one cluster, one workflow, stopped at gates where each is measured. */
async function reshardScenario(work: string): Promise<void> {
  let a: TestCluster | undefined
  let apply: CliRun | undefined
  let generatorMax: number | undefined
  let generatorCpu: Record<string, number> | undefined
  let b: TestCluster | undefined
  try {
    const keys = rowKeys(ROWS)
    const file = join(work, `rows-${ROWS}.tsv`)
    const bytes = writeRowsFile(file, keys)
    let chunks = readChunks(file)
    log(`${ROWS} guestbook rows (${(bytes / 2 ** 20).toFixed(0)} MB as LOAD DATA text) in ${file}`)
    // The rows each destination of the split receives (-80, 80-): what each baseline instance loads.
    let halves: Buffer[][] = []
    a = await startBenchCluster([layoutFile('source-replica.yaml'), layoutFile('split.yaml')])
    const loaded = await loadSource(a, 'src-100', ['src-101', 'src-102', 'src-103'], chunks, ROWS)
    await stopParallelReplica(a, 'src-103')
    note(
      'Setup',
      `source shard 0 (primary src-100, replicas src-101 and src-103, rdonly src-102): ${ROWS} rows loaded and replicated in ${loaded.seconds.toFixed(1)} s; src-103 (the parallel-replication baseline of the catch-up) then stops replicating until the catch-up`,
    )

    // The copy baselines run before and after the clone, into the same fresh instance (idle meanwhile): their mean
    // is the baseline, and the spread shows how noisy the machine was.
    const ldRuns: Rate[] = []
    const dumpRuns: Rate[] = []
    const baselines = async () => {
      await attempt('copy baselines', async () => {
        ldRuns.push(await loadDataBaseline(b!, BASE_INSTANCES, halves, ROWS))
        dumpRuns.push(await dumpReloadBaseline(a!, 'src-102', b!, BASE_INSTANCES))
      })
    }
    if (want('copy') || want('guestbook')) {
      b = await startBenchCluster([layoutFile('baseline.yaml')])
      halves = splitByHalf(chunks, COPY_CHUNK_BYTES)
      await baselines()
    }

    if (want('lag')) {
      await attempt('load generator baseline', async () => {
        const s = await loadMax(
          a!,
          BASELINE_SECONDS,
          pidMap(a!, {'src-100': 'src-100', 'src-101': 'src-101', 'src-102': 'src-102'}),
        )
        generatorMax = s.ratePerSec
        generatorCpu = s.cpu
        note(
          'Steady lag',
          `load generator alone against shard 0 (no stream; replica and rdonly replicating): ${fmt(s.ratePerSec)} writes/s, latency p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms; CPU ${s.cpuText}`,
        )
        const conn = await session(a!, 'src-100')
        const pos = await gtidBinlogPos(conn).finally(() => conn.end())
        await waitGtid(a!, 'src-101', pos)
        await waitGtid(a!, 'src-102', pos)
      })
    }

    const clone = await cloneWithCli(a, a.layoutFiles[1], {...CLONE_TABLETS, 'src-101 (replica)': 'src-101'}, 'clone', [
      'dst-200',
      'dst-300',
    ])
    cloneRate = clone.rowsPerS
    cloneCpu = clone.cpu
    if (b) {
      await baselines()
      await stopBenchCluster(b)
    }
    chunks = []
    halves = []
    const dump = dumpRuns.length ? meanRate(dumpRuns) : undefined
    if (ldRuns.length) loadDataRate = meanRate(ldRuns)
    if (loadDataRate)
      note(
        'Copy',
        `baseline LOAD DATA LOCAL INFILE into two fresh instances in parallel (each the rows of one destination, one connection each): ${fmt(loadDataRate.rowsPerS)} rows/s (mean of ${ldRuns.map((r) => fmt(r.rowsPerS)).join(' before and ')} after the clone); CPU ${loadDataRate.cpuText}`,
      )
    if (dump)
      note(
        'Copy',
        `baseline mariadb-dump --single-transaction --where 'page % 2 = k' | mariadb into two fresh instances in parallel: ${fmt(dump.rowsPerS)} rows/s (mean of ${dumpRuns.map((r) => fmt(r.rowsPerS)).join(' before and ')} after the clone); CPU ${dump.cpuText}`,
      )
    note(
      'Copy',
      `shardform clone (CLI apply): ${clone.rows} rows in ${clone.seconds.toFixed(1)} s = ${fmt(clone.rowsPerS)} rows/s (the copy itself ${clone.copySeconds ?? '?'} s; phases before it: ${Object.entries(
        clone.phases,
      )
        .filter(([k]) => k !== 'clone')
        .map(([k, v]) => `${k} ${v} s`)
        .join(', ')})`,
    )
    note('Copy', `CPU during the clone (cores): ${clone.cpuText}`)
    note(
      'Copy',
      `share of the clone each destination spent executing a LOAD DATA (PROCESSLIST sampled every 10 ms): ${Object.entries(
        clone.busy ?? {},
      )
        .map(([k, v]) => `${k} ${pct(v)}`)
        .join(', ')}`,
    )
    if (clone.profile) note('Copy', ...clone.profile.map((l) => `profile of the apply process (clone): ${l}`))
    // CPU of shardform's own process per row copied, beside the LOAD DATA client's (the bench process sending the rows).
    const applyUsPerRow = clone.applyCpuSeconds !== undefined ? (clone.applyCpuSeconds * 1e6) / clone.rows : undefined
    const clientUs = ldRuns.map((r) => Number(r.detail?.clientCpuSeconds ?? NaN)).filter(Number.isFinite)
    const clientUsPerRow = clientUs.length
      ? ((clientUs.reduce((x, y) => x + y, 0) / clientUs.length) * 1e6) / ROWS
      : undefined
    if (applyUsPerRow !== undefined)
      note(
        'Copy',
        `CPU of the apply process over the clone: ${clone.applyCpuSeconds!.toFixed(2)} s = ${applyUsPerRow.toFixed(2)} µs per row${clientUsPerRow !== undefined ? `; the LOAD DATA baseline's client (the bench process sending the same rows): ${clientUsPerRow.toFixed(2)} µs per row` : ''}`,
      )
    if (want('copy') && loadDataRate) {
      emit({
        figure: 'copy_vs_parallel_load_data',
        value: clone.rowsPerS,
        unit: 'rows/s',
        baseline:
          "LOAD DATA LOCAL INFILE of the same rows into 2 fresh instances in parallel (each its destination's rows)",
        baseline_value: loadDataRate.rowsPerS,
        ratio: ratio(clone.rowsPerS, loadDataRate.rowsPerS),
        goal: '≥ 0.9',
        met: clone.rowsPerS >= 0.9 * loadDataRate.rowsPerS,
        detail: {
          rows: clone.rows,
          seconds: clone.seconds,
          copySeconds: clone.copySeconds,
          cpuCores: clone.cpu,
          baselineCpuCores: loadDataRate.cpu,
          baselineRuns: loadDataRate.detail?.runsRowsPerS,
        },
      })
    }
    if (want('copy') && applyUsPerRow !== undefined) {
      emit({
        figure: 'copy_apply_cpu_us_per_row',
        value: applyUsPerRow,
        unit: 'µs/row',
        baseline: "the LOAD DATA baseline's client process sending the same rows",
        baseline_value: clientUsPerRow,
        ratio: ratio(applyUsPerRow, clientUsPerRow),
        detail: {applyCpuSeconds: clone.applyCpuSeconds, rows: clone.rows, cloneSeconds: clone.seconds},
      })
    }
    if (want('copy') && dump) {
      emit({
        figure: 'copy_vs_parallel_dump_reload',
        value: clone.rowsPerS,
        unit: 'rows/s',
        baseline: 'mariadb-dump --single-transaction | mariadb into 2 fresh instances in parallel (half the rows each)',
        baseline_value: dump.rowsPerS,
        ratio: ratio(clone.rowsPerS, dump.rowsPerS),
        goal: '> 1.0',
        met: clone.rowsPerS > dump.rowsPerS,
        detail: {cpuCores: clone.cpu, baselineCpuCores: dump.cpu, baselineRuns: dump.detail?.runsRowsPerS},
      })
    }

    const needStreams = want('catchup') || want('lag') || want('diff') || want('cutover')
    if (!needStreams) return
    if (want('catchup')) {
      const cu = await catchup(a, keys, BACKLOG, {
        source: 'src-100',
        replica: 'src-101',
        parallelReplica: 'src-103',
        rdonly: 'src-102',
        destinations: ['dst-200', 'dst-300'],
      })
      apply = cu.apply
      if (flags.profile) {
        // The catch-up's profile is written when that apply exits; the rest runs in a new one.
        await stopChild(apply.proc)
        const prof = newestProfile(profileDirOf('catch-up')!)
        if (prof)
          note(
            'Catch-up',
            ...describeProfile(summarizeProfile(prof)).map(
              (l) => `profile of the apply process (catch-up and native baseline): ${l}`,
            ),
          )
        apply = cli(a, ['apply', '--json'], {profile: 'lag-diff-cutover'})
      }
      note(
        'Catch-up',
        `backlog: ${cu.backlog.rowChanges} row changes (${cu.backlog.inserts} inserts, ${cu.backlog.updates} updates, ${cu.backlog.deletes} deletes) in ${cu.backlog.transactions} transactions, written in ${cu.backlog.seconds.toFixed(1)} s by 8 connections${cu.backlog.retried ? ` (${cu.backlog.retried} deadlocked transactions skipped)` : ''}`,
      )
      note(
        'Catch-up',
        `filtered replication: ${fmt(cu.stream.rowsPerS)} row changes/s from \`shardform apply\` start (${cu.stream.seconds.toFixed(1)} s; first batch applied after ${String(cu.stream.detail?.firstBatchAfterSeconds)} s, ${fmt(Number(cu.stream.detail?.fromFirstBatchRowChangesPerS))} row changes/s from it); CPU ${cu.stream.cpuText}; destinations: ${cu.stream.pagesText!}`,
      )
      note(
        'Catch-up',
        `native replica, single-threaded (MariaDB defaults): ${fmt(cu.native.rowsPerS)} row changes/s from START SLAVE (${cu.native.seconds.toFixed(1)} s); CPU ${cu.native.cpuText}; ${cu.native.pagesText!}`,
      )
      note(
        'Catch-up',
        `native replica, slave_parallel_threads 2 (= destinations), slave_parallel_mode optimistic: ${fmt(cu.parallel.rowsPerS)} row changes/s from START SLAVE (${cu.parallel.seconds.toFixed(1)} s); CPU ${cu.parallel.cpuText}; ${cu.parallel.pagesText!}`,
      )
      const detail = {backlog: cu.backlog, ...cu.stream.detail, cpuCores: cu.stream.cpu}
      emit({
        figure: 'catchup_vs_native_replica',
        value: cu.stream.rowsPerS,
        unit: 'row changes/s',
        baseline: 'native replica (single-threaded) applying the same backlog, from START SLAVE',
        baseline_value: cu.native.rowsPerS,
        ratio: ratio(cu.stream.rowsPerS, cu.native.rowsPerS),
        goal: '≥ 3 (issue 15)',
        met: cu.stream.rowsPerS >= 3 * cu.native.rowsPerS,
        detail: {
          ...detail,
          baselineCpuCores: cu.native.cpu,
          baselineInnodbPagesFlushedPer1000: cu.native.detail?.innodbPagesFlushedPer1000,
        },
      })
      emit({
        figure: 'catchup_vs_parallel_replica',
        value: cu.stream.rowsPerS,
        unit: 'row changes/s',
        baseline: 'native replica with slave_parallel_threads 2 (optimistic), same backlog, from START SLAVE',
        baseline_value: cu.parallel.rowsPerS,
        ratio: ratio(cu.stream.rowsPerS, cu.parallel.rowsPerS),
        goal: '≥ 1.5 (issue 15)',
        met: cu.stream.rowsPerS >= 1.5 * cu.parallel.rowsPerS,
        detail: {
          ...detail,
          baselineCpuCores: cu.parallel.cpu,
          baselineInnodbPagesFlushedPer1000: cu.parallel.detail?.innodbPagesFlushedPer1000,
        },
      })
    } else {
      await approveWorkflow(a.store, KEYSPACE, {phase: 'wait_for_filtered_replication', who: 'bench'})
      apply = cli(a, ['apply', '--json'], {profile: 'lag-diff-cutover'})
    }

    if (want('lag')) {
      await attempt('steady lag', async () => {
        const r = await steadyLag(a!, {
          source: 'src-100',
          destinations: ['dst-200', 'dst-300'],
          baselineRate: generatorMax ?? 2000,
          stepSeconds: LAG_STEP,
          pids: {
            ...pidMap(a!, {
              'src-100': 'src-100',
              'dst-200': 'dst-200',
              'dst-300': 'dst-300',
              'src-101': 'src-101',
              'src-102': 'src-102',
            }),
            'node (apply: streams)': apply!.pid,
          },
        })
        for (const s of r.steps) {
          note(
            'Steady lag',
            `${s.target ? `target ${s.target}/s` : 'unlimited'}: achieved ${fmt(s.achieved)} writes/s, lag max ${Math.round(s.lag.maxMs)} ms, p99 ${Math.round(s.lag.p99Ms)} ms, p50 ${Math.round(s.lag.p50Ms)} ms (${s.lag.probes} probes; shardform's own Streams record said up to ${s.reportedLagS?.toFixed(1)} s)${s.saturated ? ', generator saturated' : ''}; CPU cores ${listCores(s.cpu)}`,
          )
        }
        const best = r.best
        const allPassed = r.steps.every((s) => s.passed)
        emit({
          figure: 'steady_lag_write_rate',
          value: best?.achieved ?? 0,
          unit: 'writes/s',
          baseline: 'load generator alone (no stream), as fast as it goes',
          baseline_value: generatorMax,
          ratio: best && generatorMax ? ratio(best.achieved, generatorMax) : undefined,
          goal: 'lag < 1 s at every rate reached',
          met: allPassed,
          detail: {
            cpuCores: best?.cpu,
            baselineCpuCores: generatorCpu,
            steps: r.steps.map((s) => ({
              target: s.target,
              achieved: s.achieved,
              lagMaxMs: Math.round(s.lag.maxMs),
              lagP99Ms: Math.round(s.lag.p99Ms),
              reportedLagS: s.reportedLagS,
              cpuCores: s.cpu,
            })),
          },
        })
      })
    }

    if (!want('diff') && !want('cutover')) return
    const pids = pidMap(a, {'src-100': 'src-100', 'dst-200': 'dst-200', 'dst-300': 'dst-300'})
    const diff = await runDiff(a, apply, pids)
    note(
      'Diff',
      `${diff.compared} rows compared in ${diff.seconds.toFixed(1)} s (${diff.tasks.map((t) => `${t.id}: ${t.compared} rows in ${t.seconds.toFixed(1)} s`).join('; ')}); ${diff.scans} ordered scan(s) of the source for ${diff.tasks.length} destination(s) (${[...new Set(diff.tasks.map((t) => t.scan.join(', ')))].map((s) => `[${s}]`).join(' ')}), each destination read once; CPU ${diff.cpuText}`,
    )
    if (want('diff')) {
      emit({
        figure: 'diff_rows_per_s',
        value: diff.rowsPerS,
        unit: 'rows/s',
        baseline: 'copy rate of the same run',
        baseline_value: cloneRate,
        ratio: ratio(diff.rowsPerS, cloneRate),
        goal: '≥ 1.0',
        met: cloneRate !== undefined ? diff.rowsPerS >= cloneRate : undefined,
        detail: {
          compared: diff.compared,
          seconds: diff.seconds,
          tasks: diff.tasks,
          scans: diff.scans,
          cpuCores: diff.cpu,
          baselineCpuCores: cloneCpu,
        },
      })
    }

    if (want('cutover')) {
      const cu = await cutover(a, apply, {
        rate: CUTOVER_RATE,
        concurrency: CUTOVER_CONCURRENCY,
        seconds: 5,
        sources: ['0'],
        destinations: ['-80', '80-'],
      })
      const d = cu.during
      const b = cu.before
      const cp = cu.client
      note(
        'Cutover',
        `load ${CUTOVER_RATE} writes/s at concurrency ${CUTOVER_CONCURRENCY}: without cutover max ${b.latencyMs.max} ms, p99 ${b.latencyMs.p99} ms; over the whole cutover run (2 s before the approval to 3 s after apply exits) max ${d.latencyMs.max} ms, p99 ${d.latencyMs.p99} ms, p50 ${d.latencyMs.p50} ms; ${d.acknowledged} acknowledged, ${d.errors} failed${Object.keys(d.errorKinds).length ? ` (${JSON.stringify(d.errorKinds)})` : ''}; ${d.buffered.buffered} writes held by the router, longest ${d.buffered.maxBufferedMs} ms`,
      )
      note(
        'Cutover',
        `at the client: the first write held or refused was sent ${cp.freezeToFirstHeldMs ?? '?'} ms after migrate_primary froze the sources; the first write acknowledged by a new shard came ${cp.pauseMs} ms after it (${cp.held} writes held, ${cp.refused} refused; last acknowledgement by shard 0 → first by -80/80-: ${cp.ackGapMs} ms); the ${cp.freeze.count} writes in flight during that ${cp.windowMs} ms freeze window: p50 ${cp.freeze.p50Ms.toFixed(1)} ms, p99 ${cp.freeze.p99Ms.toFixed(1)} ms, max ${cp.freeze.maxMs.toFixed(1)} ms`,
      )
      if (flags.profile) {
        const prof = newestProfile(profileDirOf('lag-diff-cutover')!)
        if (prof)
          note(
            'Cutover',
            ...describeProfile(summarizeProfile(prof)).map(
              (l) => `profile of the apply process (steady lag, diff, cutover): ${l}`,
            ),
          )
      }
      note(
        'Cutover',
        `migrate_primary took ${cu.migrateSeconds.toFixed(2)} s; sources read-only for ${cu.writePauseMs} ms (writePauseMs); apply exited ${cu.applyCode}`,
      )
      note(
        'Cutover',
        `journal verify after the cutover: ${cu.verify.ok ? 'ok' : 'FAILED'} — ${JSON.stringify(cu.verify.counts)}${
          cu.verify.differences.length
            ? `; first differences: ${cu.verify.differences
                .slice(0, 3)
                .map((x) => `${x.kind} ${x.detail}`)
                .join('; ')}`
            : ''
        }`,
      )
      emit({
        figure: 'cutover_max_write_latency_ms',
        value: d.latencyMs.max,
        unit: 'ms',
        baseline: `same load without cutover (${CUTOVER_RATE}/s)`,
        baseline_value: b.latencyMs.max,
        ratio: ratio(d.latencyMs.max, b.latencyMs.max),
        goal: '< 1000 ms',
        met: d.latencyMs.max < 1000,
        detail: {p50: d.latencyMs.p50, p90: d.latencyMs.p90, buffered: d.buffered},
      })
      emit({
        figure: 'cutover_client_write_pause_ms',
        value: cp.pauseMs,
        unit: 'ms',
        baseline: "shardform's own writePauseMs (sources read-only → traffic moved)",
        baseline_value: cu.writePauseMs,
        ratio: ratio(cp.pauseMs, cu.writePauseMs),
        goal: '< 1000 ms',
        met: cp.pauseMs < 1000,
        detail: {
          held: cp.held,
          refused: cp.refused,
          ackGapMs: cp.ackGapMs,
          freezeToFirstHeldMs: cp.freezeToFirstHeldMs,
          windowMs: cp.windowMs,
        },
      })
      emit({
        figure: 'cutover_freeze_p99_write_latency_ms',
        value: cp.freeze.p99Ms,
        unit: 'ms',
        baseline: `same load without cutover (${CUTOVER_RATE}/s), p99`,
        baseline_value: b.latencyMs.p99,
        ratio: ratio(cp.freeze.p99Ms, b.latencyMs.p99),
        detail: {
          writes: cp.freeze.count,
          windowMs: cp.windowMs,
          p50: cp.freeze.p50Ms,
          max: cp.freeze.maxMs,
          wholeRunP99: d.latencyMs.p99,
          wholeRunWrites: d.acknowledged,
        },
      })
      emit({
        figure: 'cutover_sources_read_only_ms',
        value: cu.writePauseMs,
        unit: 'ms',
        goal: '< 1000 ms',
        met: cu.writePauseMs < 1000,
        detail: {migratePrimarySeconds: cu.migrateSeconds},
      })
      emit({
        figure: 'cutover_failed_writes',
        value: d.errors,
        unit: 'writes',
        baseline: 'same load without cutover',
        baseline_value: b.errors,
        goal: '0, and journal verify ok',
        met: d.errors === 0 && cu.verify.ok,
        detail: {
          acknowledged: d.acknowledged,
          errorKinds: d.errorKinds,
          verifyOk: cu.verify.ok,
          verifyCounts: cu.verify.counts,
        },
      })
    }
  } catch (err) {
    keepLogsAfterFailure()
    throw err
  } finally {
    if (apply) await stopChild(apply.proc)
    await stopBenchCluster(b)
    await stopBenchCluster(a)
  }
}

/** The copy into the guestbook layout: destination shards with a replica and an rdonly each. */
async function guestbookScenario(work: string): Promise<void> {
  let g: TestCluster | undefined
  try {
    const file = join(work, `rows-${ROWS}.tsv`)
    writeRowsFile(file, rowKeys(ROWS))
    let chunks = readChunks(file)
    g = await startBenchCluster([join(ROOT, 'plans/guestbook/1-shard.yaml'), layoutFile('guestbook-split.yaml')])
    await loadSource(g, 'test-100', ['test-101', 'test-102'], chunks, ROWS)
    chunks = []
    const tablets = {
      'test-102 (rdonly, read)': 'test-102',
      'test-200': 'test-200',
      'test-201': 'test-201',
      'test-202': 'test-202',
      'test-300': 'test-300',
      'test-301': 'test-301',
      'test-302': 'test-302',
    }
    const clone = await cloneWithCli(g, g.layoutFiles[1], tablets, 'clone (guestbook layout)', ['test-200', 'test-300'])
    note(
      'Copy',
      `shardform clone into the guestbook layout (every destination shard with a replica and an rdonly): ${fmt(clone.rowsPerS)} rows/s (${clone.seconds.toFixed(1)} s); CPU ${clone.cpuText}`,
    )
    emit({
      figure: 'copy_guestbook_layout',
      value: clone.rowsPerS,
      unit: 'rows/s',
      baseline: loadDataRate ? 'LOAD DATA LOCAL INFILE of the same rows into 2 fresh instances in parallel' : undefined,
      baseline_value: loadDataRate?.rowsPerS,
      ratio: ratio(clone.rowsPerS, loadDataRate?.rowsPerS),
      detail: {rows: clone.rows, seconds: clone.seconds, cpuCores: clone.cpu, baselineCpuCores: loadDataRate?.cpu},
    })
  } catch (err) {
    keepLogsAfterFailure()
    throw err
  } finally {
    await stopBenchCluster(g)
  }
}

async function memoryScenario(work: string): Promise<void> {
  // Every size on a fresh cluster of the same shape (bench/layouts/source.yaml + split.yaml), never the reshard
  // scenario's (which has more replicas and ran other benches first).
  for (const rows of MEMORY_ROWS) {
    if (memoryPeaks.has(rows)) continue
    memoryPeaks.set(rows, await cloneFresh(rows, join(work, `rows-${rows}.tsv`), `clone of ${human(rows)} rows`))
    rmSync(join(work, `rows-${rows}.tsv`), {force: true})
  }
  const sizes = [...MEMORY_ROWS].sort((x, y) => x - y)
  const small = memoryPeaks.get(sizes[0])!
  for (const rows of sizes) {
    const r = memoryPeaks.get(rows)!
    note(
      'Memory',
      `apply process cloning ${human(rows)} rows (fresh cluster: source primary + rdonly → two destination primaries): peak RSS ${r.peakRssMb?.toFixed(0)} MB; RSS at 25/50/75/100% of the clone ${r.rssAlong?.join(', ')} MB; clone ${fmt(r.rowsPerS)} rows/s; CPU ${r.cpuText}`,
    )
    if (r.profile)
      note('Memory', ...r.profile.map((l) => `profile of the apply process cloning ${human(rows)} rows: ${l}`))
    const isBase = rows === sizes[0]
    emit({
      figure: `apply_peak_rss_${human(rows)}_rows`,
      value: r.peakRssMb ?? NaN,
      unit: 'MB',
      ...(isBase
        ? {}
        : {
            baseline: `peak RSS cloning ${human(sizes[0])} rows`,
            baseline_value: small.peakRssMb,
            ratio: ratio(r.peakRssMb ?? NaN, small.peakRssMb),
            goal: '≤ 1.1× (flat) and ≤ 150 MB (issue 15)',
            met: (r.peakRssMb ?? Infinity) <= 1.1 * (small.peakRssMb ?? 0) && (r.peakRssMb ?? Infinity) <= 150,
          }),
      detail: {rssAlongCloneMb: r.rssAlong, cloneRowsPerS: Math.round(r.rowsPerS)},
    })
  }
}

async function planScenario(): Promise<void> {
  const out = await new Promise<string>((ok, fail) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/plan.ts')], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let text = ''
    p.stdout!.on('data', (d: Buffer) => (text += d.toString()))
    p.once('close', (code) => (code === 0 ? ok(text) : fail(new Error(`bench/plan.ts exited ${code}`))))
  })
  for (const line of out.split('\n').filter((l) => l.startsWith('{'))) emit(JSON.parse(line) as Figure)
}

function neighbours(): string[] {
  try {
    const ps = execFileSync('ps', ['-eo', 'pid,comm,args', '--no-headers'], {encoding: 'utf8'})
    const counts = new Map<string, number>()
    for (const l of ps.split('\n')) {
      const m = /^\s*\d+\s+(\S+)/.exec(l)
      if (!m || !['mariadbd', 'etcd', 'node', 'vitest', 'tsc', 'esbuild'].includes(m[1])) continue
      counts.set(m[1], (counts.get(m[1]) ?? 0) + 1)
    }
    return [...counts].map(([k, n]) => `${n} ${k}`)
  } catch {
    return []
  }
}

async function main(): Promise<void> {
  const startedAt = new Date()
  const loadBefore = loadAverage()
  const others = neighbours()
  log(
    `shardform bench: ${[...only].join(', ')}; rows ${ROWS}, backlog ${BACKLOG}, memory rows ${MEMORY_ROWS.join(', ')}; load average ${loadBefore}; running now: ${others.join(', ') || 'nothing else'}`,
  )
  const work = mkdtempSync(join(tmpdir(), 'shardform-bench-'))
  if (flags.profile) {
    const dir = join(ROOT, 'bench/out/profiles', startedAt.toISOString().replace(/[:.]/g, '-'))
    setProfileDir(dir)
    log(`--profile: V8 CPU profiles of the apply processes in ${dir}`)
  }
  let stopping = false
  const onSignal = (sig: string) => {
    if (stopping) process.exit(130)
    stopping = true
    log(`${sig}: stopping the clusters…`)
    void stopAll().finally(() => {
      rmSync(work, {recursive: true, force: true})
      process.exit(130)
    })
  }
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  try {
    if (['copy', 'catchup', 'lag', 'diff', 'cutover'].some((b) => want(b as Bench))) {
      await attempt('reshard scenario (copy, catch-up, steady lag, diff, cutover)', () => reshardScenario(work))
    }
    if (want('guestbook')) await attempt('copy into the guestbook layout', () => guestbookScenario(work))
    if (want('memory')) await attempt('memory', () => memoryScenario(work))
    if (want('plan')) await attempt('plan', planScenario)
    if (want('server')) await attempt('server', () => serverScenario(SERVER))
    if (want('server-idle')) await attempt('server at a gate', () => serverIdleScenario(work))
    if (want('defer-keys')) await attempt('deferred secondary keys', () => deferKeysScenario(work, ROWS))
    if (want('fanout')) await attempt('fan-out 1 → 2 vs 1 → 8', () => fanoutScenario(work, FANOUT_ROWS, FANOUT_RUNS))
    if (want('throttle')) await attempt('replica-lag throttle', () => throttleScenario(work, THROTTLE))
  } finally {
    await stopAll()
    rmSync(work, {recursive: true, force: true})
  }
  const seconds = (Date.now() - startedAt.getTime()) / 1000
  if (resultsFile !== '-') {
    mkdirSync(dirname(resultsFile), {recursive: true})
    writeResults(resultsFile, figures(), allNotes(), {
      startedAt,
      seconds,
      command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
      sizes: {
        ...(REDO_MB ? {'InnoDB redo log': `${REDO_MB} MB (--redo-mb)`} : {}),
        ...(POOL_MB ? {'InnoDB buffer pool': `${POOL_MB} MB (--buffer-pool-mb)`} : {}),
        rows: ROWS,
        backlog: BACKLOG,
        'memory rows': MEMORY_ROWS.join('/'),
        ...(want('fanout') ? {'fan-out rows': FANOUT_ROWS, 'fan-out runs': FANOUT_RUNS} : {}),
        ...(want('throttle')
          ? {'throttle bench': `${THROTTLE.rows} rows, ${THROTTLE.rate} writes/s × ${THROTTLE.rowsPerWrite} rows`}
          : {}),
        'lag step': `${LAG_STEP} s`,
        'cutover load': `${CUTOVER_RATE}/s × ${CUTOVER_CONCURRENCY}`,
        ...(want('server')
          ? {'server bench': `${SERVER.rate} writes/s, ${SERVER.seconds} s of probes, lock TTL ${SERVER.ttl} s`}
          : {}),
      },
      loadBefore,
      loadAfter: loadAverage(),
      neighbours: others,
      failures,
    })
    log(`wrote ${resultsFile}`)
  }
  log(`done in ${(seconds / 60).toFixed(1)} min${failures.length ? ` with ${failures.length} failure(s)` : ''}`)
  process.exitCode = failures.length ? 1 : 0
}

await main()

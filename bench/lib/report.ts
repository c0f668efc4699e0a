// bench/RESULTS.md: the figures of one run as a table, each beside its baseline, then what was observed.
import {writeFileSync} from 'node:fs'
import {cpus, totalmem} from 'node:os'
import type {Figure} from './out.js'
import {noiseOf} from './proc.js'

export interface RunInfo {
  startedAt: Date
  seconds: number
  command: string
  sizes: Record<string, unknown>
  loadBefore: string
  loadAfter: string
  /** Processes of other users of the machine seen at the start (it is shared). */
  neighbours: string[]
  failures: string[]
}

const num = (v: number | undefined, unit = ''): string => {
  if (v === undefined || !Number.isFinite(v)) return '—'
  const s = Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : String(Math.round(v * 100) / 100)
  return unit ? `${s} ${unit}` : s
}

const METHOD = `## How each figure is measured

All figures come from one \`npm run bench\` on this machine, each beside the baseline that bounds it, measured in
the same run (the machine is shared and noisy: compare ratios, not absolute numbers across runs). Every MariaDB
instance, baselines included, is started the same way (\`src/local\` startCluster: same my.cnf, 64M buffer pool,
binlog ROW with GTID, \`innodb_flush_log_at_trx_commit=2\`, \`sync_binlog=0\`).

- **Copy**: \`shardform plan bench/layouts/split.yaml --out F && shardform apply F --no-wait\` (the CLI) splits shard 0
  (primary + rdonly; clone reads the rdonly's frozen snapshot) into \`-80\` and \`80-\`, each a single primary without
  replicas, so each destination does the work of the baseline instance. rows/s = clone/0's \`output.rows\` over the
  task's started_at → finished_at. Baselines: the same rows (a file in primary-key order, ~100-byte messages) with
  LOAD DATA LOCAL INFILE in 4 MB statements (as shardform's copy sends them) on one connection into a fresh instance;
  and \`mariadb-dump --single-transaction vt_test_keyspace messages | mariadb\` from the source rdonly into that
  instance. \`copy_guestbook_layout\` is the same clone into the guestbook layout (each destination shard with a
  replica and an rdonly replicating every copied row).
- **Catch-up**: after the clone, apply stops at a gate (no stream runs) and a native replica of shard 0 is stopped;
  a backlog is written on the source (60% inserts, 30% updates, 10% deletes of existing rows; transactions of 1–10
  row changes, one statement per row, 8 connections). Then apply resumes: row changes/s of the streams from their
  first applied batch until both destinations' stored positions reach the source's final GTID. Baseline: START SLAVE
  on the native replica (single SQL thread, MariaDB defaults) until MASTER_GTID_WAIT of the same final GTID returns.
- **Steady lag**: while apply waits at the diff gate with its streams running, the load generator (\`runLoad\`, 70/20/10
  insert/update/delete of guestbook rows, 16 connections) writes through the router at rising rates, each for a
  step; lag = time until both destinations' stored stream positions reach a source \`@@gtid_binlog_pos\` read every
  100 ms (polled every 50 ms). The figure is the highest rate achieved with every probe under 1 s. Baseline: the load
  generator as fast as it goes against shard 0 before the clone (no stream).
- **Diff**: the diff phase (both destinations in parallel, the default \`diffParallelism: 2\`): rows compared over the
  phase's wall time, against the copy rate of the same run.
- **Cutover**: migrate_primary approved while the load generator writes at a steady rate through the router (journal
  on); max and p99 latency of every acknowledged write from 2 s before the approval until 3 s after apply exits,
  \`writePauseMs\` from migrate_primary's output (sources read-only until the switch is committed), failed writes,
  and \`load verify\` of the journal afterwards. Baseline: the same load just before, without a cutover.
- **Memory**: peak RSS (VmHWM, sampled every 100 ms from /proc) of the \`shardform apply\` process cloning tables of
  each size, each into a fresh cluster.
- **Plan**: median of in-process runs; cold start is a fresh \`shardform plan\` process against \`node -e 0\`.
- **Server** (\`--only server\`, its own cluster: 20k rows on shard 0, primary + rdonly, split into \`-80\` and \`80-\`;
  the workflow waits at the diff gate with its streams running; a steady writer inserts \`--server-rate\` rows/s on
  the source throughout). Lag: a probe row is inserted on the source every 200 ms for \`--server-seconds\`, and timed
  from just before its INSERT until a query on its destination primary returns it (polled every 20 ms), first while
  \`shardform apply\` runs the streams in-process (it waits at the gate: no TTY), then, after it is stopped, while one of
  two \`shardform server\`s runs them and no CLI runs. Takeover: \`kill -9\` of the server holding the keyspace lock, a
  probe row inserted right after; the figure is kill → that row on its destination (median of \`--server-kills\`), beside
  the lease TTL (\`--lock-ttl\`, \`--server-ttl\`); each killed server is replaced by a new one. Twice: with each server
  under its own host name (\`unshare --uts\`, as on separate hosts: the dead holder is noticed when its lease expires),
  and with both on one host (a dead pid is noticed at once, so the lease is not awaited).

## Finding what bounds a figure

- Every line above gives the CPU of each process (cores, from /proc/<pid>/stat) and of the whole machine over the
  measured interval; for the copy and the catch-up also how much of the time each destination was executing
  shardform's statements (PROCESSLIST sampled every 10 ms): a destination busy most of the time bounds the pipeline,
  one mostly idle waits for Node.
- \`npm run bench -- --profile\` adds V8 CPU profiles of the apply processes, summarised per module and function.
- Every instance (the baselines too) runs with a 64 MB InnoDB redo log, as \`shardform local up\` does; \`--redo-mb N\`
  changes it (with the 4 MB of a template data directory, every bulk load checkpoints constantly and the
  destinations spend much more CPU per row).
- \`tsx bench/explore-copy.ts [--rows N] [--chunks 1,4,16] [--redo-mb 256] [--profile]\` runs shardform's copyTable
  in-process into discarding destinations (Node's own cost), into one and two real destinations with several chunk
  sizes, with the clone's sync callbacks, and the CLI clone, beside LOAD DATA of the same rows.
`

export function writeResults(
  file: string,
  figures: Figure[],
  notes: Array<{section: string; lines: string[]}>,
  info: RunInfo,
): void {
  const cell = (s: string) => s.replace(/\|/g, '\\|')
  const rows = figures.map((f) => {
    const met = f.met === undefined ? '—' : f.met ? 'yes' : '**no**'
    const d = f.detail as {cpuCores?: Record<string, number>; baselineCpuCores?: Record<string, number>} | undefined
    const noise = [noiseOf(d?.cpuCores), noiseOf(d?.baselineCpuCores)].map((x) => x ?? '—').join(' / ')
    return `| ${cell(f.figure)} | ${num(f.value, f.unit)} | ${cell(f.baseline ?? '—')} | ${num(f.baseline_value, f.baseline_value === undefined ? '' : f.unit)} | ${f.ratio ?? '—'} | ${cell(f.goal ?? '—')} | ${met} | ${noise === '— / —' ? '—' : noise} |`
  })
  const order = ['Setup', 'Copy', 'Catch-up', 'Steady lag', 'Diff', 'Cutover', 'Memory', 'Plan', 'Server']
  notes = [...notes].sort((a, b) => ((order.indexOf(a.section) + 100) % 100) - ((order.indexOf(b.section) + 100) % 100))
  const text = [
    '# shardform benchmarks',
    '',
    `Generated by \`${info.command}\` on ${info.startedAt.toISOString()} (${(info.seconds / 60).toFixed(1)} min). Sizes: ${Object.entries(
      info.sizes,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}. Load average at start ${info.loadBefore}, at end ${info.loadAfter}` +
      (info.neighbours.length ? `; other processes on the machine at start: ${info.neighbours.join(', ')}.` : '.'),
    ...(info.failures.length
      ? ['', '**Failures in this run:**', '', ...info.failures.map((f) => `- ${f.replace(/\n/g, ' ')}`)]
      : []),
    '',
    '| figure | value | baseline | baseline value | ratio | goal | met? | other load (value / baseline) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    "ratio = value / baseline value. Other load: CPU the machine spent outside the benchmark's processes while the value",
    '(and the baseline) were measured, in cores of 2, and the CPU pressure (share of time some task waited for a CPU).',
    'The same figures as JSON lines, with details: `npm run -s bench > figures.jsonl` (progress goes to stderr).',
    '',
    '## What was observed',
    '',
    ...notes.flatMap((n) => [`### ${n.section}`, '', ...n.lines.map((l) => (l.startsWith('|') ? l : `- ${l}`)), '']),
    METHOD,
  ]
  writeFileSync(file, text.join('\n'))
}

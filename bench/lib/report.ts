// bench/RESULTS.md: the figures of one run as a table, each beside its baseline, then what was observed.
import {writeFileSync} from 'node:fs'
import {cpus, totalmem} from 'node:os'
import type {Figure} from './out.js'
import {boundLines} from './bounds.js'
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
  (primary, two replicas, rdonly; clone reads the rdonly's frozen snapshot) into \`-80\` and \`80-\`, each a single
  primary without replicas. rows/s = clone/0's \`output.rows\` over the task's started_at → finished_at. Baselines, the
  same work into as many fresh instances as the split has destinations (2), loaded in parallel: the same rows (a file
  in primary-key order, ~100-byte messages) split by the hash vindex as the split splits them, each half with LOAD DATA
  LOCAL INFILE in 2 MB statements (COPY_CHUNK_BYTES, as shardform's copy sends them) on one connection into its instance; and
  \`mariadb-dump --single-transaction --where 'page % 2 = k' vt_test_keyspace messages | mariadb\` from the source
  rdonly into instance k (half the rows each: SQL cannot compute the hash vindex). Each baseline runs before and after
  the clone; its figure is the mean. \`copy_apply_cpu_us_per_row\`: CPU seconds of the \`shardform apply\` process over
  the clone task per row copied, beside the LOAD DATA baseline's client (the bench process reading and sending the
  same rows). \`copy_guestbook_layout\` is the same clone into the guestbook layout (each destination shard with a
  replica and an rdonly replicating every copied row).
- **Catch-up**: after the clone, apply stops at a gate (no stream runs) and two native replicas of shard 0 are stopped
  at the source's position; a backlog is written on the source (60% inserts, 30% updates, 10% deletes of existing
  rows; transactions of 1–10 row changes, one statement per row, 8 connections). Every one of the three is then timed
  from its start command until it has applied the source's final GTID, one after the other: filtered replication
  from spawning \`shardform apply\` (which resumes the workflow and starts the streams) until both destinations'
  stored positions reach it (polled every 50 ms); each native replica from START SLAVE until MASTER_GTID_WAIT
  returns: src-101 single-threaded (MariaDB's default), src-103 with \`slave_parallel_threads\` = 2 (the number of
  destinations) and \`slave_parallel_mode = optimistic\`. The streams start a heartbeat transaction or two behind the
  replicas (shardform's heartbeat rows on the source after the clone, outside the streams' tables). The rate from
  the streams' first applied batch is kept in the details. Beside each rate, the InnoDB pages its instances read from
  disk and flushed meanwhile (SHOW GLOBAL STATUS: \`Innodb_buffer_pool_reads\`, \`Innodb_buffer_pool_pages_flushed\`):
  with the local cluster's 64 MB buffer pool and redo log, page flushing is much of what every applier does.
- **Steady lag**: while apply waits at the diff gate with its streams running, the load generator (\`runLoad\`, 70/20/10
  insert/update/delete of guestbook rows, 16 connections) writes through the router at rising rates, each for a
  step; lag = time until both destinations' stored stream positions reach a source \`@@gtid_binlog_pos\` read every
  100 ms (polled every 50 ms). The figure is the highest rate achieved with every probe under 1 s. Baseline: the load
  generator as fast as it goes against shard 0 before the clone (no stream).
- **Diff**: the diff phase (both destinations approved together, so one ordered scan of the source compares both):
  rows compared over the phase's wall time, against the copy rate of the same run.
- **Cutover**: migrate_primary approved while the load generator writes at a steady rate through the router (journal
  on), every write's send and answer time recorded (\`runLoad\`'s onOp). \`cutover_client_write_pause_ms\`: from the
  send of the first write the router held (it was refused by a read-only source or had no serving shard, and was
  retried) or that failed, to the first write acknowledged by a new shard; beside \`writePauseMs\` from
  migrate_primary's output (sources read-only → traffic moved, as shardform measures it). The freeze window runs
  from that first held write to the last held write's answer (at least to the first acknowledgement by a new shard);
  \`cutover_freeze_p99_write_latency_ms\` is the p99 latency of the writes in flight during it (few: about rate ×
  window, so the p99 is close to the max), beside the p99 of the same load without a cutover. The max latency is over
  every write from 2 s before the approval until 3 s after apply exits; then failed writes and \`load verify\` of the
  journal.
- **Memory**: peak RSS (VmHWM, sampled every 100 ms from /proc) of the \`shardform apply\` process cloning tables of
  each size, each into a fresh cluster of the same shape (bench/layouts/source.yaml: primary + rdonly, into
  split.yaml's two primaries).
- **Plan**: warm figures are the median of in-process runs. The \`_cli_ms\` figures are what a user runs: a fresh
  \`shardform plan L --offline\` (the layouts' tablets do not exist) or \`shardform validate L\` process end to end
  (median of 3), against a file topology holding the current layout; the goals are judged on these. Cold start: a
  fresh \`shardform plan\` of the guestbook split against \`node -e 0\`.
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
- **Server at a gate** (\`--only server-idle\`, no MariaDB): one \`shardform server\` holds a workflow waiting at its
  first gate, as it may for hours in a code-review flow; its CPU (/proc) over 15 s, 3 s after it reached the gate.
  A 256 → 512 split (its workflow record 3.7 MB of JSON) beside a 1 → 2 split, on etcd and on the file topology.

## Finding what bounds a figure

- "Where a goal is not met" is computed from the same run (bench/lib/bounds.ts): a rate's CPU per unit of work summed
  over every process it used, beside its baseline's, and the rate it could reach with all the machine's cores to
  itself; a CLI figure split into Node and framework start, the same work warm, and the rest.
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
  const bounds = boundLines(figures)
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
    ...(bounds.length ? ['## Where a goal is not met', '', ...bounds.map((l) => `- ${l}`), ''] : []),
    '## What was observed',
    '',
    ...notes.flatMap((n) => [`### ${n.section}`, '', ...n.lines.map((l) => (l.startsWith('|') ? l : `- ${l}`)), '']),
    METHOD,
  ]
  writeFileSync(file, text.join('\n'))
}

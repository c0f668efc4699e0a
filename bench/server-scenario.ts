// The server group of `npm run bench` (issue 12): its own cluster (shard 0 split into -80 and 80-), the figures and
// what was observed. The measuring is in server.ts.
import {layoutFile, startBenchCluster, stopBenchCluster} from './lib/cluster.js'
import {emit, note, ratio} from './lib/out.js'
import {median} from './lib/probes.js'
import {serverBench, type ServerBenchOptions, type Takeover} from './server.js'

const ROWS = 20_000

export async function serverScenario(o: Omit<ServerBenchOptions, 'rows' | 'probeMs'>): Promise<void> {
  const c = await startBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')])
  try {
    const conn = await c.connect('src-100', 'admin')
    await conn
      .query(
        `INSERT INTO messages (page, time_created_ns, message) SELECT seq, seq, CONCAT('bulk ', seq, ' ', REPEAT(MD5(seq), 3)) FROM seq_1_to_${ROWS}`,
      )
      .finally(() => conn.end())
    await c.waitReplication(120_000)
    const r = await serverBench(c, {...o, rows: ROWS, probeMs: 200})
    const ttlMs = r.ttlSeconds * 1000
    note(
      'Server',
      `setup: ${ROWS} rows on shard 0 (primary src-100, rdonly src-102) split into -80 (dst-200) and 80- (dst-300); the workflow waits at the diff gate with its streams running; a steady writer inserts ${r.rate} rows/s on src-100 throughout (${r.written} written, ${r.writeErrors} failed)`,
      `lag with \`shardform apply\` running the streams in-process: ${lagText(r.apply)}; CPU ${r.apply.cpuText}`,
      `lag with a \`shardform server\` running them and no CLI: ${lagText(r.server)}; CPU ${r.server.cpuText}`,
    )
    emit({
      figure: 'server_lag_p99_no_cli_ms',
      value: r.server.p99Ms,
      unit: 'ms',
      baseline: `apply running the streams in-process (${r.rate} writes/s)`,
      baseline_value: r.apply.p99Ms,
      ratio: ratio(r.server.p99Ms, r.apply.p99Ms),
      goal: '< 1000 ms',
      met: r.server.p99Ms < 1000 && r.server.lost === 0,
      detail: {server: r.server, apply: r.apply, cpuCores: r.server.cpu, baselineCpuCores: r.apply.cpu},
    })
    emit({
      figure: 'server_lag_p50_no_cli_ms',
      value: r.server.p50Ms,
      unit: 'ms',
      baseline: `apply running the streams in-process (${r.rate} writes/s)`,
      baseline_value: r.apply.p50Ms,
      ratio: ratio(r.server.p50Ms, r.apply.p50Ms),
    })
    const takeover = (name: string, runs: Takeover[] | undefined, how: string) => {
      if (!runs?.length) return
      const probe = median(runs.map((t) => t.probeMs))
      const lock = median(runs.map((t) => t.lockMs ?? NaN))
      note(
        'Server',
        `kill -9 of the server holding the workflow, ${how}, lock TTL ${r.ttlSeconds} s: ${runs
          .map((t) => `${t.killed} → ${t.by}: lock after ${t.lockMs} ms, probe after ${t.probeMs} ms`)
          .join('; ')}; median ${Math.round(probe)} ms (takeover − TTL ${Math.round(probe - ttlMs)} ms)`,
      )
      emit({
        figure: name,
        value: probe,
        unit: 'ms',
        baseline: `lease TTL (--lock-ttl ${r.ttlSeconds})`,
        baseline_value: ttlMs,
        ratio: ratio(probe, ttlMs),
        goal: '≤ TTL + 5 s',
        met: probe <= ttlMs + 5000,
        detail: {runs, medianLockMs: lock, minusTtlMs: Math.round(probe - ttlMs)},
      })
    }
    takeover(
      'server_takeover_after_kill9_ms',
      r.takeovers.hosts,
      'servers under their own host names (as on two hosts)',
    )
    takeover('server_takeover_same_host_ms', r.takeovers.sameHost, 'both servers on one host (the dead pid is noticed)')
  } finally {
    await stopBenchCluster(c)
  }
}

function lagText(l: {count: number; p50Ms: number; p99Ms: number; maxMs: number; lost: number}): string {
  return `${l.count} probe rows (one every 200 ms), arrival on the destination p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, max ${l.maxMs} ms${l.lost ? `, ${l.lost} never arrived` : ''}`
}

// Fan-out (issue 15, item 2): the same rows split 1 → 2 and 1 → 8 (one primary per destination), 600 writes at
// 200/s on the source from the start, `shardform apply` (the CLI) from the plan to the gate after the diff. A split's
// cost should grow with the data, not with the number of destinations: the apply process's CPU and peak RSS, the
// source's CPU (primary: binlog; rdonly: snapshot reads) and the diff's wall time of 1 → 8 beside those of 1 → 2. The
// binlog readers on the source primary (its Binlog Dump threads, the rdonly's own excluded while it replicates) are
// sampled throughout. Diagnostics: FANOUT_MEM_PROBE=dir (bench/lib/mem-probe.mjs in apply: its memoryUsage by phase,
// MEM_PROBE_SNAPSHOT_MB for a heap snapshot), FANOUT_NODE_FLAGS='--trace-gc' (apply's stdout kept in that dir).
import {writeFileSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {loadSource} from './copy.js'
import {
  cli,
  layoutFile,
  phaseTiming,
  pidOf,
  ROOT,
  planToFile,
  setCliNode,
  withBenchCluster,
  taskLog,
  workflowOf,
} from './lib/cluster.js'
import {readChunks, rowKeys, writeRowsFile} from './lib/data.js'
import {emit, fmt, log, note, ratio} from './lib/out.js'
import {median, SteadyWriter} from './lib/probes.js'
import {coresUsed, describeCpu, ProcSampler} from './lib/proc.js'

const RANGES: Record<number, string[]> = {
  2: ['-80', '80-'],
  8: ['-20', '20-40', '40-60', '60-80', '80-a0', 'a0-c0', 'c0-e0', 'e0-'],
}
const WRITES_PER_S = 200
const WRITES = 600
/** Diagnostic: FANOUT_MEM_PROBE=dir loads bench/lib/mem-probe.mjs into apply (its memoryUsage at the peak, by phase). */
const probeDir = process.env.FANOUT_MEM_PROBE
/** Diagnostic: FANOUT_NODE_FLAGS='--trace-gc …': node flags for the apply process. */
const nodeFlags = (process.env.FANOUT_NODE_FLAGS ?? '').split(' ').filter(Boolean)

interface FanoutRun {
  destinations: number
  applySeconds: number
  applyCpuSeconds: number
  /** The source primary's and rdonly's CPU during apply (the writer's writes included, the same in both runs). */
  sourceCpuSeconds: number
  diffSeconds: number
  diffTaskSeconds: number
  peakRssMb: number
  binlogReaders: number
  /** The apply process's highest RSS within each phase. */
  rssByPhase: string
  /** The apply process's CPU within each phase, and outside them. */
  cpuByPhase: string
  writes: number
  cpuText: string
}

/** The bench split layout with `n` destination primaries, the workflow stopping at the gate after the diff. */
function splitLayout(work: string, n: number): string {
  const shards = RANGES[n]!.map(
    (r, i) =>
      `  '${r}':\n    tablets:\n      - {alias: dst-${200 + i * 100}, type: primary, host: 127.0.0.1, port: ${18200 + i * 100}}`,
  )
  const text = readFileSync(layoutFile('split.yaml'), 'utf8')
    .replace('../../plans/guestbook/vschema.json', join(ROOT, 'plans/guestbook/vschema.json'))
    .replace(/approvals:\n( {2}.*\n)+/, 'approvals:\n  default: none\n  phases:\n    migrate_rdonly: phase\n')
    .replace(/^shards:[\s\S]*$/m, `shards:\n${shards.join('\n')}\n`)
  const file = join(work, `fanout-${n}.yaml`)
  writeFileSync(file, text)
  return file
}

function splitOnce(work: string, rowsFile: string, rows: number, n: number): Promise<FanoutRun> {
  const label = `fanout 1 → ${n}`
  return withBenchCluster([layoutFile('source.yaml'), splitLayout(work, n)], async (c) => {
    const chunks = readChunks(rowsFile)
    await loadSource(c, 'src-100', ['src-102'], chunks, rows)
    chunks.length = 0
    const planFile = await planToFile(c, `fanout-${n}`)
    const sampler = new ProcSampler(
      {'src-100 (primary)': pidOf(c, 'src-100'), 'src-102 (rdonly)': pidOf(c, 'src-102')},
      100,
    )
    sampler.start()
    // The same writes in both runs, done within the first 3 s whatever the split's speed (they land during the clone
    // and are caught up by the streams): the source's CPU then compares the split's own cost.
    const w = await new SteadyWriter(c, 'src-100', WRITES_PER_S, 1, WRITES).start()
    const probe = await c.connect('src-100', 'admin')
    const rdonly = await c.connect('src-102', 'admin')
    let readers = 0
    let sampling = true
    const dumps = (async () => {
      while (sampling) {
        const [r] = (await probe.query(
          "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
        )) as unknown as [Array<{n: number}>]
        // One dump thread is the rdonly's own while it replicates (clone and diff stop it for their snapshots).
        const [st] = (await rdonly.query('SHOW SLAVE STATUS')) as unknown as [Array<{Slave_IO_Running?: string}>]
        readers = Math.max(readers, Number(r[0]!.n) - (st[0]?.Slave_IO_Running === 'Yes' ? 1 : 0))
        await new Promise((ok) => setTimeout(ok, 200))
      }
    })()
    const t0 = Date.now()
    if (probeDir)
      setCliNode(['--import', join(ROOT, 'bench/lib/mem-probe.mjs'), ...nodeFlags], {
        MEM_PROBE_OUT: join(probeDir, `probe-${n}.json`),
        ...(process.env.MEM_PROBE_SNAPSHOT_MB ? {MEM_PROBE_SNAPSHOT_MB: process.env.MEM_PROBE_SNAPSHOT_MB} : {}),
      })
    else setCliNode(nodeFlags)
    const run = cli(c, ['apply', planFile, '--no-wait', '--json'], {profile: label})
    setCliNode([])
    sampler.add('node (apply)', run.pid)
    const {code} = await run.done
    const t1 = Date.now()
    sampling = false
    await dumps
    await probe.end()
    await rdonly.end()
    await w.stop()
    const writes = w.written
    if (w.errors) throw new Error(`${label}: ${w.errors} of the writer's inserts failed`)
    sampler.stop()
    if (probeDir) writeFileSync(join(probeDir, `stdout-${n}.txt`), run.stdout)
    if (code !== 3)
      throw new Error(
        `apply ${label} exited ${code} (expected 3, at the gate after the diff):\n${run.stderr.slice(-2000)}`,
      )
    const wf = await workflowOf(c.store)
    const diff = phaseTiming(wf, 'diff')
    for (const t of diff.tasks.slice(0, 1)) for (const line of taskLog(wf, t.id)) log(`${label}: ${t.id}: ${line}`)
    // Where the apply process's memory peaks: its highest RSS within each phase.
    const rssIn = (phase: string) => {
      const p = phaseTiming(wf, phase)
      const mb = sampler.samples
        .filter((x) => x.at >= p.startedAt && x.at <= p.finishedAt)
        .map((x) => (x.readings['node (apply)']?.rssKb ?? 0) / 1024)
      // A phase shorter than the sampling interval has no sample of its own.
      return `${phase} ${mb.length ? `${Math.round(Math.max(...mb))} MB` : 'not sampled (too short)'}`
    }
    const rssByPhase = ['clone', 'wait_for_filtered_replication', 'diff'].map(rssIn).join(', ')
    log(`${label}: apply's highest RSS by phase: ${rssByPhase}`)
    // Where the apply process's CPU goes: every phase's span, and what is left outside them (start, gaps, exit).
    const phases = [...new Set(Object.keys(wf.tasks).map((id) => id.split('/')[0]!))]
      .map((ph) => ({ph, p: phaseTiming(wf, ph)}))
      .filter(({p}) => p.seconds >= 0)
    let inPhases = 0
    const cpuByPhase = phases.map(({ph, p}) => {
      const s = sampler.cpuBetween(p.startedAt, p.finishedAt).cpu['node (apply)'] ?? 0
      inPhases += s
      return `${ph} ${s.toFixed(2)} s in ${p.seconds.toFixed(1)} s`
    })
    if (probeDir) {
      const pr = JSON.parse(readFileSync(join(probeDir, `probe-${n}.json`), 'utf8')) as {
        peak: Record<string, number>
        sites: Array<{site: string; mb: number; count: number}>
        samples: Array<Record<string, number>>
      }
      log(`${label}: memoryUsage at the peak: ${JSON.stringify(pr.peak)}`)
      for (const x of pr.sites) log(`${label}:   ${x.mb} MB in ${x.count}: ${x.site}`)
      for (const ph of ['clone', 'wait_for_filtered_replication', 'diff']) {
        const p = phaseTiming(wf, ph)
        const top = pr.samples
          .filter((x) => x.t >= p.startedAt && x.t <= p.finishedAt)
          .sort((a, b) => b.rss! - a.rss!)[0]
        if (top) log(`${label}:   highest in ${ph}: ${JSON.stringify(top)}`)
      }
    }
    const split = sampler.cpuBetween(t0, t1)
    const cores = coresUsed(split)
    const outside = (split.cpu['node (apply)'] ?? 0) - inPhases
    const cpuText = `${cpuByPhase.join(', ')}; outside them ${outside.toFixed(2)} s`
    log(`${label}: apply's CPU by phase: ${cpuText}`)
    const out: FanoutRun = {
      destinations: n,
      applySeconds: (t1 - t0) / 1000,
      applyCpuSeconds: split.cpu['node (apply)'] ?? NaN,
      sourceCpuSeconds: (split.cpu['src-100 (primary)'] ?? 0) + (split.cpu['src-102 (rdonly)'] ?? 0),
      diffSeconds: diff.seconds,
      diffTaskSeconds: diff.tasks.reduce((s, t) => s + (t.seconds ?? 0), 0),
      peakRssMb: sampler.peakMb('node (apply)') ?? NaN,
      binlogReaders: readers,
      rssByPhase,
      cpuByPhase: cpuText,
      writes,
      cpuText: describeCpu(split),
    }
    log(
      `${label}: apply ${out.applySeconds.toFixed(1)} s, its CPU ${out.applyCpuSeconds.toFixed(1)} s, peak RSS ${out.peakRssMb.toFixed(0)} MB; source CPU ${out.sourceCpuSeconds.toFixed(1)} s; diff ${out.diffSeconds.toFixed(1)} s (tasks summed ${out.diffTaskSeconds.toFixed(1)} s); binlog readers on the source at most ${readers}; ${writes} writes; cores ${JSON.stringify(cores)}`,
    )
    return out
  })
}

/**
 * `runs` pairs of splits, 1 → 2 then 1 → 8 in turn (each on a fresh cluster); every figure compares the medians, since
 * one pair on this shared machine moved the CPU ratio between 1.15 and 1.43.
 */
export async function fanoutScenario(work: string, rows: number, runs = 3): Promise<void> {
  const file = join(work, 'fanout.rows')
  writeRowsFile(file, rowKeys(rows))
  const twos: FanoutRun[] = []
  const eights: FanoutRun[] = []
  for (let i = 0; i < runs; i++) {
    twos.push(await splitOnce(work, file, rows, 2))
    eights.push(await splitOnce(work, file, rows, 8))
  }
  const figure = (name: string, what: string, unit: string, f: (r: FanoutRun) => number, goal: string) => {
    const eight = median(eights.map(f))
    const two = median(twos.map(f))
    const r = ratio(eight, two)
    emit({
      figure: name,
      value: +eight.toFixed(2),
      unit,
      baseline: `the same ${fmt(rows)} rows split 1 → 2 (${what}; medians of ${runs} runs each)`,
      baseline_value: +two.toFixed(2),
      ratio: r,
      goal,
      met: r! <= Number(goal.replace(/[^\d.]/g, '')),
      detail: {runs1to2: twos.map(f), runs1to8: eights.map(f), two: twos[0], eight: eights[0]},
    })
    return `${name}: 1 → 8 ${eights.map((x) => f(x).toFixed(2)).join(', ')}; 1 → 2 ${twos.map((x) => f(x).toFixed(2)).join(', ')}`
  }
  const perRun = [
    figure('fanout_diff_seconds_1_to_8', 'diff phase wall time', 's', (r) => r.diffSeconds, '≤ 1.3×'),
    figure('fanout_apply_cpu_seconds_1_to_8', 'CPU of the apply process', 's', (r) => r.applyCpuSeconds, '≤ 1.3×'),
    figure(
      'fanout_source_cpu_seconds_1_to_8',
      'CPU of the source primary and rdonly',
      's',
      (r) => r.sourceCpuSeconds,
      '≤ 1.3×',
    ),
    figure('fanout_apply_peak_rss_mb_1_to_8', 'peak RSS of the apply process', 'MB', (r) => r.peakRssMb, '≤ 1.2×'),
  ]
  note(
    'fan-out',
    ...[twos[0]!, eights[0]!].map(
      (r) =>
        `first run, 1 → ${r.destinations} of ${rows} rows, ${r.writes} writes at ${WRITES_PER_S}/s: apply ${r.applySeconds.toFixed(1)} s to the gate after the diff, its CPU ${r.applyCpuSeconds.toFixed(1)} s (${r.cpuByPhase}), peak RSS ${r.peakRssMb.toFixed(0)} MB (${r.rssByPhase}); source CPU ${r.sourceCpuSeconds.toFixed(1)} s; diff ${r.diffSeconds.toFixed(1)} s (its tasks summed ${r.diffTaskSeconds.toFixed(1)} s); binlog readers on the source at most ${r.binlogReaders}; CPU ${r.cpuText}`,
    ),
    `every run (in run order): ${perRun.join(' | ')}`,
  )
}

// Where the clone's memory goes (diagnostic, not part of `npm run bench`): `shardform apply` (the CLI) cloning N bench
// rows from a fresh source (primary + rdonly) into the split's two primaries, with bench/lib/mem-probe.mjs loaded:
// process.memoryUsage() over the clone, the live Buffers (≥ 4 KB) by the place that allocated them at the peak,
// optionally a heap snapshot and a CPU profile of the apply process.
//   tsx bench/explore-memory.ts [--rows 1000000] [--snapshot-mb N] [--profile] [--keep DIR] [--node-flag=--trace-gc …] [--bare]
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parseArgs} from 'node:util'
import {cloneWithCli, loadSource} from './copy.js'
import {layoutFile, ROOT, setCliNode, setProfileDir, startBenchCluster, stopAll} from './lib/cluster.js'
import {readChunks, rowKeys, writeRowsFile} from './lib/data.js'
import {fmt, log} from './lib/out.js'
import {CLONE_TABLETS} from './memory.js'

const {values} = parseArgs({
  options: {
    rows: {type: 'string', default: '1000000'},
    'snapshot-mb': {type: 'string'},
    profile: {type: 'boolean'},
    keep: {type: 'string'},
    'node-flag': {type: 'string', multiple: true},
    // Without the probe (its stack traces cost CPU): for --profile.
    bare: {type: 'boolean'},
  },
})
const ROWS = Number(values.rows)
const work = mkdtempSync(join(tmpdir(), 'shardform-mem-'))
const outDir = values.keep ?? work
process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)))
try {
  const file = join(work, 'rows.tsv')
  writeRowsFile(file, rowKeys(ROWS))
  const chunks = readChunks(file)
  const c = await startBenchCluster([layoutFile('source.yaml'), layoutFile('split.yaml')])
  await loadSource(c, 'src-100', ['src-102'], chunks, ROWS)
  chunks.length = 0
  const probe = join(outDir, `probe-${ROWS}.json`)
  const flags = values['node-flag'] ?? []
  if (values.bare) setCliNode(flags)
  else
    setCliNode([...flags, '--import', join(ROOT, 'bench/lib/mem-probe.mjs')], {
      MEM_PROBE_OUT: probe,
      ...(values['snapshot-mb'] ? {MEM_PROBE_SNAPSHOT_MB: values['snapshot-mb']} : {}),
    })
  setProfileDir(values.profile ? join(outDir, 'profiles') : undefined)
  const run = await cloneWithCli(c, c.layoutFiles[1], CLONE_TABLETS, 'clone', ['dst-200', 'dst-300'])
  log(
    `clone of ${fmt(run.rows)} rows: ${fmt(run.rowsPerS)} rows/s, peak RSS ${run.peakRssMb} MB (along ${run.rssAlong?.join(', ')}), apply CPU ${run.applyCpuSeconds?.toFixed(2)} s = ${(((run.applyCpuSeconds ?? 0) * 1e6) / run.rows).toFixed(2)} µs/row; busy ${JSON.stringify(run.busy)}; CPU ${run.cpuText}`,
  )
  for (const l of run.profile ?? []) log(`  ${l}`)
  if (!values.bare) {
    const p = JSON.parse(readFileSync(probe, 'utf8')) as {
      peak: Record<string, number>
      sites: Array<{site: string; mb: number; count: number}>
      samples: Array<Record<string, number>>
    }
    log(`probe peak: ${JSON.stringify(p.peak)}`)
    for (const s of p.sites) log(`  ${s.mb} MB in ${s.count}: ${s.site}`)
    const step = Math.max(1, Math.floor(p.samples.length / 30))
    for (let i = 0; i < p.samples.length; i += step) {
      const s = p.samples[i]
      log(
        `  t+${s.t - p.samples[0].t} rss ${s.rss} heapTotal ${s.heapTotal} heapUsed ${s.heapUsed} arrayBuffers ${s.arrayBuffers} external ${s.external}`,
      )
    }
  }
} finally {
  await stopAll()
  if (!values.keep) rmSync(work, {recursive: true, force: true})
}

// Diagnostic, loaded into a CLI process with `node --import` (bench/explore-memory.ts): samples
// process.memoryUsage() every 50 ms, tracks the live bytes of Buffers of 4 KB and more by the place that allocated
// them (FinalizationRegistry), and at the process's peak writes both, and optionally a heap snapshot, to a JSON file.
//   MEM_PROBE_OUT=file.json  MEM_PROBE_SNAPSHOT_MB=N (heap snapshot the first time RSS passes N MB)
import {writeFileSync} from 'node:fs'
import {writeHeapSnapshot} from 'node:v8'

const out = process.env.MEM_PROBE_OUT
const snapshotMb = Number(process.env.MEM_PROBE_SNAPSHOT_MB ?? 0)
const live = new Map()
const registry = new FinalizationRegistry(({site, bytes}) => {
  const s = live.get(site)
  s.bytes -= bytes
  s.count--
})
const siteOf = () => {
  const lines = (new Error().stack ?? '').split('\n').slice(3)
  const own = lines.filter((l) => !l.includes('mem-probe') && !l.includes('node:buffer'))
  return own
    .slice(0, 3)
    .map((l) =>
      l
        .trim()
        .replace(/^at /, '')
        .replace(/\(.*node_modules\//, '(')
        .replace(/\(.*\/dist\//, '(dist/'),
    )
    .join(' < ')
}
const track = (b) => {
  const bytes = b?.buffer?.byteLength ?? 0
  if (bytes < 4096 || b.byteOffset !== 0) return b
  const site = siteOf()
  const s = live.get(site) ?? {bytes: 0, count: 0, peakBytes: 0}
  s.bytes += bytes
  s.count++
  s.peakBytes = Math.max(s.peakBytes, s.bytes)
  live.set(site, s)
  registry.register(b.buffer, {site, bytes})
  return b
}
for (const name of ['alloc', 'allocUnsafe', 'allocUnsafeSlow', 'from', 'concat']) {
  const orig = Buffer[name]
  Buffer[name] = function (...args) {
    return track(orig.apply(this, args))
  }
}

let peak = {rss: 0}
let sites = []
const samples = []
let snapped = false
const timer = setInterval(() => {
  const m = process.memoryUsage()
  samples.push({t: Date.now(), ...m})
  if (m.rss > peak.rss) {
    peak = m
    sites = [...live.entries()]
      .filter(([, s]) => s.bytes > 0)
      .sort((a, b) => b[1].bytes - a[1].bytes)
      .slice(0, 15)
      .map(([site, s]) => ({site, mb: +(s.bytes / 1048576).toFixed(1), count: s.count}))
  }
  if (snapshotMb && !snapped && m.rss > snapshotMb * 1048576) {
    snapped = true
    writeHeapSnapshot(`${out}.heapsnapshot`)
  }
}, 50)
timer.unref()
process.on('exit', () => {
  if (!out) return
  const mb = (n) => +(n / 1048576).toFixed(1)
  const fmt = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, k === 't' ? v : mb(v)]))
  writeFileSync(out, JSON.stringify({peak: fmt(peak), sites, samples: samples.map(fmt)}, null, 1))
})

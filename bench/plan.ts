// 7. Planner speed: planning a 4096-shard layout (every shard of a 2048-shard keyspace split in two), a 256 → 512
// split, validating a 4096-shard layout (generated, so written as JSON: see layout/source.ts), and `shardform plan`
// cold start against `node -e 0` in the same run.
// Prints one JSON line per figure. Run alone: npm run bench:plan (npm run bench runs it too).
import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {pathToFileURL} from 'node:url'
import {generateShards} from '../src/keyspace/keyrange.js'
import {parseLayout} from '../src/layout/index.js'
import {plan} from '../src/plan/index.js'
import {bootstrapRecords} from '../src/layout/init.js'
import type {KeyspaceState} from '../src/plan/keyspace-state.js'
import {emit, ratio, type Figure} from './lib/out.js'

/** The same layout as JSON, one tablet a line: what a generator writes (read by JSON.parse, not `yaml`). */
function layoutJSON(shards: string[], base: number): string {
  const host = (uid: number) => `10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}`
  const tablets = (uid: number) =>
    (['primary', 'replica', 'rdonly'] as const).map(
      (type, k) => `      {"alias": "b-${uid + k}", "type": "${type}", "host": "${host(uid)}", "port": ${3306 + k}}`,
    )
  const entries = shards.map(
    (name, i) => `    "${name}": {\n     "tablets": [\n${tablets(base + i * 3).join(',\n')}\n     ]}`,
  )
  const vschema =
    '{"sharded": true, "vindexes": {"h": {"type": "hash"}}, "tables": {"t": {"column_vindexes": [{"column": "id", "name": "h"}]}}}'
  return `{\n  "keyspace": "bench",\n  "vschema": ${vschema},\n  "shards": {\n${entries.join(',\n')}\n  }\n}\n`
}

function layoutText(shards: string[], base: number): string {
  const lines = [
    'keyspace: bench',
    'vschema: {sharded: true, vindexes: {h: {type: hash}}, tables: {t: {column_vindexes: [{column: id, name: h}]}}}',
    'shards:',
  ]
  shards.forEach((name, i) => {
    const uid = base + i * 3
    lines.push(`  "${name}":`, '    tablets:')
    lines.push(
      `      - {alias: b-${uid}, type: primary, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3306}`,
    )
    lines.push(
      `      - {alias: b-${uid + 1}, type: replica, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3307}`,
    )
    lines.push(
      `      - {alias: b-${uid + 2}, type: rdonly, host: 10.${(uid >> 16) & 255}.${(uid >> 8) & 255}.${uid & 255}, port: 3308}`,
    )
  })
  return lines.join('\n') + '\n'
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function time(fn: () => void, runs = 5): number {
  const t: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint()
    fn()
    t.push(Number(process.hrtime.bigint() - start) / 1e6)
  }
  return median(t)
}

function stateOf(text: string, file: string): KeyspaceState {
  const r = bootstrapRecords(parseLayout(file, text))
  return {
    keyspace: r.keyspace,
    shards: r.shards,
    srvKeyspace: r.srvKeyspace,
    tablets: r.tablets,
    allTablets: r.tablets,
    activeWorkflows: [],
  }
}

export function planFigures(opts: {runs?: number} = {}): Figure[] {
  const out: Figure[] = []
  const runs = opts.runs ?? 3

  // A 4096-shard layout, generated as JSON: validating it (which planning needs first) is the baseline. Validation is
  // timed warm (the median of 7, as the planning figures are) beside the same layout written as YAML (median of 3:
  // ~1 s each), and cold: the first call in a fresh process, which is what one `shardform plan` pays.
  const text4096 = layoutJSON(generateShards(4096), 100000)
  const validate4096 = time(() => parseLayout('4096.json', text4096), 7)
  const yaml4096 = time(() => parseLayout('4096.yaml', layoutText(generateShards(4096), 100000)), 3)
  const to4096 = parseLayout('4096.json', text4096)
  const from2048 = stateOf(layoutJSON(generateShards(2048), 0), '2048.json')
  let tasks = 0
  const plan4096 = time(() => (tasks = plan(from2048, to4096).summary.tasks), runs)
  out.push(
    emit({
      figure: 'plan_4096_shards_ms',
      value: plan4096,
      unit: 'ms',
      baseline: 'validating the same 4096-shard layout',
      baseline_value: validate4096,
      ratio: ratio(plan4096, validate4096),
      goal: '< 1000 ms',
      met: plan4096 < 1000,
      detail: {from_shards: 2048, to_shards: 4096, tasks},
    }),
  )
  out.push(
    emit({
      figure: 'validate_4096_shard_layout_ms',
      value: validate4096,
      unit: 'ms',
      baseline: 'validating the same layout written as YAML',
      baseline_value: yaml4096,
      ratio: ratio(validate4096, yaml4096),
      goal: '< 100 ms',
      met: validate4096 < 100,
      detail: {bytes: text4096.length, format: 'json'},
    }),
  )
  const cold = coldValidation(text4096)
  out.push(
    emit({
      figure: 'validate_4096_shard_layout_cold_ms',
      value: cold,
      unit: 'ms',
      baseline: 'the same validation warm',
      baseline_value: validate4096,
      ratio: ratio(cold, validate4096),
    }),
  )

  const from256 = stateOf(layoutText(generateShards(256), 0), '256.yaml')
  const to512 = parseLayout('512.yaml', layoutText(generateShards(512), 100000))
  const p = plan(from256, to512)
  const plan512 = time(() => plan(from256, to512), 5)
  out.push(
    emit({
      figure: 'plan_256_to_512_ms',
      value: plan512,
      unit: 'ms',
      goal: '< 100 ms',
      met: plan512 < 100,
      detail: {tasks: p.summary.tasks},
    }),
  )

  // Cold start: a fresh process planning against an embedded topology (baseline: `node -e 0` in the same run).
  const dir = mkdtempSync(join(tmpdir(), 'sf-bench-plan-'))
  try {
    const bin = new URL('../bin/run.js', import.meta.url).pathname
    const env = {...process.env, SHARDFORM_TOPO: `file:${dir}`}
    const guestbook = new URL('../plans/guestbook/', import.meta.url).pathname
    execFileSync(bin, ['topo', 'init', `${guestbook}1-shard.yaml`], {env})
    const cold = time(() => execFileSync(bin, ['plan', `${guestbook}2-shards.yaml`], {env, stdio: 'ignore'}), 7)
    const node = time(() => execFileSync(process.execPath, ['-e', '0'], {stdio: 'ignore'}), 7)
    out.push(
      emit({
        figure: 'plan_cold_start_ms',
        value: cold,
        unit: 'ms',
        baseline: 'node -e 0',
        baseline_value: node,
        ratio: ratio(cold, node),
        goal: '< 500 ms',
        met: cold < 500,
      }),
    )
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
  return out
}

/** Median over 3 fresh processes of the first parseLayout call (the built dist/, as the CLI runs it). */
function coldValidation(text: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'sf-bench-cold-'))
  try {
    const file = join(dir, 'layout.json')
    writeFileSync(file, text)
    const lib = new URL('../dist/layout/index.js', import.meta.url).href
    const script = `const {parseLayout} = await import(${JSON.stringify(lib)}); const text = (await import('node:fs')).readFileSync(${JSON.stringify(file)}, 'utf8'); const t = performance.now(); parseLayout('layout.json', text); console.log(performance.now() - t)`
    const times = [0, 1, 2].map(() =>
      Number(execFileSync(process.execPath, ['--input-type=module', '-e', script]).toString().trim()),
    )
    return median(times)
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) planFigures()

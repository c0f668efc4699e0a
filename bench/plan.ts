// 7. Planner speed: planning a 4096-shard layout (every shard of a 2048-shard keyspace split in two), a 256 → 512
// split, validating a 4096-shard layout (generated, so written as JSON: see layout/source.ts): warm in-process, and
// end to end as a user runs them (a fresh `shardform plan` / `shardform validate` process, which the goals judge);
// and `shardform plan` cold start against `node -e 0` in the same run.
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
      detail: {
        from_shards: 2048,
        to_shards: 4096,
        tasks,
        warm: 'in-process, median of runs; the goal is judged on plan_4096_shards_cli_ms',
      },
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
      detail: {bytes: text4096.length, format: 'json', warm: 'the goal is judged on validate_4096_shard_layout_cli_ms'},
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
      detail: {tasks: p.summary.tasks, warm: 'the goal is judged on plan_256_to_512_cli_ms'},
    }),
  )

  // The CLI, as a user runs it: a fresh `shardform plan` / `shardform validate` process, end to end (start, read the
  // topology and the layout, plan, print), beside the warm in-process figures. --offline: the layouts' tablets do
  // not exist (plan would otherwise try to connect to each for its pre-flight checks and estimates).
  const node = time(() => execFileSync(process.execPath, ['-e', '0'], {stdio: 'ignore'}), 7)
  const dir = mkdtempSync(join(tmpdir(), 'sf-bench-plan-'))
  try {
    const bin = new URL('../bin/run.js', import.meta.url).pathname
    const run = (topo: string, args: string[]) =>
      execFileSync(bin, args, {env: {...process.env, SHARDFORM_TOPO: `file:${join(dir, topo)}`}, stdio: 'ignore'})
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    }
    const f2048 = file('2048.json', layoutJSON(generateShards(2048), 0))
    const f4096 = file('4096.json', text4096)
    const f256 = file('256.yaml', layoutText(generateShards(256), 0))
    const f512 = file('512.yaml', layoutText(generateShards(512), 100000))
    run('t2048', ['topo', 'init', f2048])
    run('t256', ['topo', 'init', f256])
    const cliPlan4096 = time(() => run('t2048', ['plan', f4096, '--offline']), 3)
    const cliValidate4096 = time(() => run('t2048', ['validate', f4096]), 3)
    const cliPlan512 = time(() => run('t256', ['plan', f512, '--offline']), 3)
    const floor = {node_e_0_ms: Math.round(node * 10) / 10}
    out.push(
      emit({
        figure: 'plan_4096_shards_cli_ms',
        value: cliPlan4096,
        unit: 'ms',
        baseline: 'the same plan warm, in-process (plan_4096_shards_ms)',
        baseline_value: plan4096,
        ratio: ratio(cliPlan4096, plan4096),
        goal: '< 1000 ms',
        met: cliPlan4096 < 1000,
        detail: {command: 'shardform plan 4096.json --offline (topology: 2048 shards)', runs: 3, ...floor},
      }),
    )
    out.push(
      emit({
        figure: 'validate_4096_shard_layout_cli_ms',
        value: cliValidate4096,
        unit: 'ms',
        baseline: 'the same validation warm, in-process (validate_4096_shard_layout_ms)',
        baseline_value: validate4096,
        ratio: ratio(cliValidate4096, validate4096),
        goal: '< 100 ms',
        met: cliValidate4096 < 100,
        detail: {command: 'shardform validate 4096.json', runs: 3, ...floor},
      }),
    )
    out.push(
      emit({
        figure: 'plan_256_to_512_cli_ms',
        value: cliPlan512,
        unit: 'ms',
        baseline: 'the same plan warm, in-process (plan_256_to_512_ms)',
        baseline_value: plan512,
        ratio: ratio(cliPlan512, plan512),
        goal: '< 100 ms',
        met: cliPlan512 < 100,
        detail: {command: 'shardform plan 512.yaml --offline (topology: 256 shards)', runs: 3, ...floor},
      }),
    )

    // Cold start: a fresh process planning the guestbook split against an embedded topology, beside `node -e 0`.
    const guestbook = new URL('../plans/guestbook/', import.meta.url).pathname
    run('guestbook', ['topo', 'init', `${guestbook}1-shard.yaml`])
    const cold = time(() => run('guestbook', ['plan', `${guestbook}2-shards.yaml`]), 7)
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
    // What bounds every cold CLI figure: node itself, then loading the CLI framework before any shardform code runs.
    const framework = time(
      () =>
        execFileSync(process.execPath, ['--input-type=module', '-e', "await import('@oclif/core')"], {stdio: 'ignore'}),
      7,
    )
    out.push(
      emit({
        figure: 'cli_framework_load_ms',
        value: framework,
        unit: 'ms',
        baseline: 'node -e 0',
        baseline_value: node,
        ratio: ratio(framework, node),
        detail: {
          command: 'node -e "await import(\'@oclif/core\')"',
          runs: 7,
          why: 'the floor under every cold CLI figure',
        },
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
